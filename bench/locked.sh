# What `relrun --locked` adds: the same script run with and without the
# relrun.lock check, in a project that vendored every script and library
# (relrun vendor --all: ~60 files hashed and compared) plus the script
# itself, which returns at once. Target: at most 5 ms more.
#
# Two scripts: one that loads nothing, where the check also pays for
# loading OpenSSL's libcrypto (relrun.hash is a loadable module); and one
# that loads relrun.hash, as every release script does (release, verify,
# rollback hash what they publish), where the difference is the check alone.
#
# Each row gives wall time and CPU time (user + system, from hyperfine).
# The verdict is on CPU time: on a shared machine the wall time of a run
# that reads and hashes 68 files grows with everyone else's load (on 2
# cores with a load of 10, about 3x its CPU time), while the work the check
# adds does not.
. bench/lib.sh
# cpu_ms CMD: mean user + system time in milliseconds over hyperfine runs.
cpu_ms() {
  local json; json=$(mktemp)
  hyperfine -N --warmup 3 --min-runs "${RUNS:-20}" --export-json "$json" "$1" >/dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.3f" % ((r["user"]+r["system"])*1000))' "$json"
  rm -f "$json"
}
diff_ms() { python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$1" "$2"; }
proj="$BENCH_TMP/locked"
mkdir -p "$proj" && git init -q "$proj"
(cd "$proj" && "$RELRUN" vendor --all >/dev/null && printf 'return 0\n' > .relrun-scripts/noop.lua \
  && printf 'require "relrun.hash"\nreturn 0\n' > .relrun-scripts/hashing.lua \
  && "$RELRUN" lock >/dev/null) || { row "--locked overhead" failed "" "" "" "✗"; exit 0; }
files=$(grep -c '"sha256"' "$proj/relrun.lock")
cd "$proj" || exit 1
for script in noop hashing; do
  plain=$(RUNS=50 mean_ms "$RELRUN $script")
  locked=$(RUNS=50 mean_ms "$RELRUN --locked $script")
  plain_cpu=$(RUNS=50 cpu_ms "$RELRUN $script")
  locked_cpu=$(RUNS=50 cpu_ms "$RELRUN --locked $script")
  added=$(diff_ms "$locked" "$plain")
  added_cpu=$(diff_ms "$locked_cpu" "$plain_cpu")
  what=$([ "$script" = noop ] && echo "a script loading nothing" || echo "a script loading relrun.hash")
  row "--locked check ($files files), $what" "+${added_cpu} ms CPU, +${added} ms wall (${locked} ms)" \
    "unlocked ${plain_cpu} ms CPU, ${plain} ms wall" "" "≤ +5 ms CPU" "$(verdict "$added_cpu" le 5)"
done
cd - >/dev/null || exit 1
