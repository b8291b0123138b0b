# relrun.git describe vs `git describe --tags --long` on a 100,000-commit
# history made with git fast-import, without and with a commit-graph
# (`git commit-graph write --reachable`). Two tag placements: far (the tag
# 99,990 commits back: the whole history is walked) and near (50 back).
# Target: no slower than git (ratio ≤ 1). Rows give wall time; the CPU rows
# (user+system) are steadier on a busy machine.
. bench/lib.sh
N=${GIT_BENCH_COMMITS:-100000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# cpu_ms CMD: mean user+system time in milliseconds over hyperfine runs.
cpu_ms() {
  local json; json=$(mktemp)
  hyperfine -N --warmup 2 --min-runs "${RUNS:-10}" --export-json "$json" "$1" >/dev/null 2>&1
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"][0]; print("%.3f" % ((r["user"]+r["system"])*1000))' "$json"
  rm -f "$json"
}

repo=$work/r
git init -q -b main "$repo"
awk -v n="$N" 'BEGIN {
  for (i = 1; i <= n; i++) {
    printf "commit refs/heads/main\nmark :%d\ncommitter C <c@example.com> %d +0000\n", i, 1600000000 + i
    printf "data %d\ncommit %d\nM 644 inline f\ndata %d\n%d\n", length("commit " i), i, length(i ""), i
  }
}' | git -C "$repo" fast-import --quiet
git -C "$repo" tag -a far -m far "main~$((N - 10))"
git -C "$repo" tag -a near -m near "main~50"

# The relrun side: a script printing what git prints.
cat > "$work/describe.lua" <<'EOF2'
local r = assert(require("relrun.git").open(arg[1]))
local d = assert(r:describe { match = arg[2] })
io.write(d.tag, "-", d.distance, "-g", d.short, "\n")
EOF2

for graph in without with; do
  if [ "$graph" = with ]; then git -C "$repo" commit-graph write --reachable 2>/dev/null; fi
  for tag in far near; do
    want=$(git -C "$repo" describe --tags --long --match "$tag")
    got=$("$RELRUN" "$work/describe.lua" "$repo" "$tag")
    if [ "$want" != "$got" ]; then
      row "describe $tag tag, $graph commit-graph" "WRONG: $got" "git: $want" "-" "equal" "✗ missed"
      continue
    fi
    gcmd="git -C $repo describe --tags --long --match $tag"
    rcmd="$RELRUN $work/describe.lua $repo $tag"
    g=$(RUNS=10 mean_ms "$gcmd")
    r=$(RUNS=10 mean_ms "$rcmd")
    x=$(ratio "$r" "$g")
    row "describe $tag tag, $N commits, $graph commit-graph (wall)" "${r} ms" "git ${g} ms" "${x}x" "≤ 1x" "$(verdict "$x" le 1)"
    g=$(cpu_ms "$gcmd")
    r=$(cpu_ms "$rcmd")
    x=$(ratio "$r" "$g")
    row "describe $tag tag, $N commits, $graph commit-graph (cpu)" "${r} ms" "git ${g} ms" "${x}x" "≤ 1x" "$(verdict "$x" le 1)"
  done
done
