# Helpers for bench/*.sh. Source it.
# row NAME RELRUN_VALUE OTHER_VALUE RATIO TARGET VERDICT
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }

# mean_ms CMD...: mean wall time in milliseconds over hyperfine runs.
mean_ms() {
  local json; json=$(mktemp)
  hyperfine -N --warmup 3 --min-runs "${RUNS:-20}" --export-json "$json" "$@" >/dev/null 2>&1 \
    || hyperfine --warmup 3 --min-runs "${RUNS:-20}" --export-json "$json" "$*" >/dev/null 2>&1
  python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$json"
  rm -f "$json"
}

# peak_rss_kb CMD...: the peak resident set of a command, in KiB.
peak_rss_kb() { /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -1; }

# ratio A B: A/B with two decimals.
ratio() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1])/float(sys.argv[2])))" "$1" "$2"; }

# verdict VALUE OP LIMIT: ✓ when VALUE OP LIMIT holds (OP: le, ge).
verdict() { python3 -c "import sys,operator as o; print('✓' if getattr(o,sys.argv[2])(float(sys.argv[1]),float(sys.argv[3])) else '✗ missed')" "$1" "$2" "$3"; }
