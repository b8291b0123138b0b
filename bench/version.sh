# scripts/version.lua vs `python3 -m setuptools_scm` vs `git describe --tags
# --long --dirty`, on a small sample repository and on a 100,000-commit
# history without and with a commit-graph file. Targets: at least 10x faster
# than setuptools_scm on the small repository; no slower than git describe on
# the 100k history. Each measurement checks first that relrun prints what
# setuptools_scm prints there.
. bench/lib.sh
set -u
SRC=$PWD
TMP=${BENCH_TMP:-$(mktemp -d)}/version
mkdir -p "$TMP"
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=b@example.com

# history DIR N TAG_AT: a linear history of N commits, v1.0.0 at commit TAG_AT.
history() {
  mkdir -p "$1" && git -C "$1" init -q -b main
  python3 - "$2" "$3" <<'EOF' | git -C "$1" fast-import --quiet
import sys
n, tag_at = int(sys.argv[1]), int(sys.argv[2])
w = sys.stdout.write
for k in range(1, n + 1):
    w("commit refs/heads/main\nmark :%d\ncommitter B <b@e> %d +0000\ndata 2\nc\n" % (k, 1700000000 + k))
    if k > 1:
        w("from :%d\n" % (k - 1))
    d = "%d\n" % k
    w("M 644 inline f\ndata %d\n%s\n" % (len(d), d))
    if k == tag_at:
        w("reset refs/tags/v1.0.0\nfrom :%d\n\n" % k)
EOF
  git -C "$1" checkout -q main
}

# times DIR RUNS CMD...: "wall cpu" means in ms for each command, from one
# hyperfine run in DIR. CPU (user + system) is reported beside wall time
# because the machine is shared: wall time moves with the others' load.
times() {
  local dir=$1 runs=$2; shift 2
  local json; json=$(mktemp)
  (cd "$dir" && hyperfine -N --warmup 2 --min-runs "$runs" --export-json "$json" "$@" >/dev/null 2>&1)
  python3 -c '
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%.1f %.1f" % (r["mean"] * 1000, (r["user"] + r["system"]) * 1000))' "$json"
  rm -f "$json"
}

# measure LABEL DIR RUNS: one row against setuptools_scm, one against git describe.
measure() {
  local label=$1 dir=$2 runs=$3
  local ours theirs
  ours=$(cd "$dir" && "$RELRUN" "$SRC/scripts/version.lua")
  theirs=$(cd "$dir" && /usr/bin/python3 -W ignore -m setuptools_scm 2>/dev/null)
  if [ "$ours" != "$theirs" ]; then
    row "version $label" "$ours" "setuptools_scm $theirs" "" "same output" "✗ differs"
    return
  fi
  local t rr rr_cpu py py_cpu gd gd_cpu
  t=$(times "$dir" "$runs" "$RELRUN $SRC/scripts/version.lua" "/usr/bin/python3 -W ignore -m setuptools_scm" \
        "git describe --tags --long --dirty")
  read -r rr rr_cpu py py_cpu gd gd_cpu <<<"$(echo $t)"
  local speedup speedup_cpu r r_cpu
  speedup=$(ratio "$py" "$rr"); speedup_cpu=$(ratio "$py_cpu" "$rr_cpu")
  r=$(ratio "$rr" "$gd"); r_cpu=$(ratio "$rr_cpu" "$gd_cpu")
  local target_py="" verdict_py="" target_gd="" verdict_gd=""
  case $label in
    small*) target_py="≥ 10x faster"; verdict_py=$(verdict "$speedup" ge 10) ;;
    100k*)  target_gd="≤ 1x"; verdict_gd=$(verdict "$r" le 1) ;;
  esac
  row "version.lua, $label (wall; cpu)" "${rr} ms; ${rr_cpu} ms" "setuptools_scm ${py} ms; ${py_cpu} ms" \
    "${speedup}x faster; ${speedup_cpu}x" "$target_py" "$verdict_py"
  row "version.lua, $label (wall; cpu)" "${rr} ms; ${rr_cpu} ms" "git describe ${gd} ms; ${gd_cpu} ms" \
    "${r}x; ${r_cpu}x" "$target_gd" "$verdict_gd"
}

# The small sample: 40 commits, a few tags, a pyproject.toml, a dirty file.
small=$TMP/small
rm -rf "$small" && mkdir -p "$small" && git -C "$small" init -q -b main
printf '[project]\nname = "sample"\ndynamic = ["version"]\n\n[tool.setuptools_scm]\n' >"$small/pyproject.toml"
git -C "$small" add pyproject.toml && git -C "$small" commit -q -m pyproject
for i in $(seq 1 40); do
  echo "$i" >"$small/f.txt" && git -C "$small" add f.txt && git -C "$small" commit -q -m "c$i"
  case $i in 10) git -C "$small" tag v0.9.0 ;; 25) git -C "$small" tag -a v1.0.0 -m v1.0.0 ;; esac
done
echo dirty >"$small/f.txt"
measure "small repo (41 commits, dirty)" "$small" 20

big=$TMP/h100k
[ -d "$big" ] || history "$big" 100000 10
rm -f "$big/.git/objects/info/commit-graph"
rm -rf "$big/.git/objects/info/commit-graphs"
measure "100k commits, no commit-graph" "$big" 5
git -C "$big" commit-graph write --reachable
measure "100k commits, commit-graph" "$big" 5
