# scripts/version.lua against `git describe --tags --long --dirty` on a
# history shaped like git/git's: ~80,000 commits with merges, ~1,000 tags
# (annotated, packed with their peeled ids), ~850,000 objects in one pack.
# Four rows, each from runs alternated in the same run of this script: at
# HEAD and at an old commit, without and with a commit-graph. Target: no
# slower than git (ratio ≤ 1). Then the parts (status, describe) and the
# 100664-mode check on git/git's first commit.
#
# The history: a local clone of git/git when one is there
# (RELRUN_BENCH_GIT_REPO, default /work/.mirror/git+git/repo: any clone
# works; the clone is made with hardlinks in a temp folder and removed
# after); otherwise one generated with git fast-import (GIT_BENCH_COMMITS,
# default 60,000 commits: long-lived topic branches merged late, ~200
# annotated tags, 3,000 files, clock skew: see generate), which has git/git's
# shape but not its first commits. Nothing of either is committed here.
. bench/lib.sh
set -u
SRC=$PWD
TMP=${BENCH_TMP:-$(mktemp -d)}/history
rm -rf "$TMP" && mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=b@example.com
UPSTREAM=${RELRUN_BENCH_GIT_REPO:-/work/.mirror/git+git/repo}
GITGIT_FIRST=e83c5163316f89bfbde7d9ab23ca2e25604af290 # "Initial revision of git", tree modes 100664

# generate DIR: a history shaped like git/git's (when no clone is at hand):
# a tree of 3,000 files in 60 folders; 40 topic branches that fork from
# main up to 3,000 main commits back (as topics based on maint do), live for
# hundreds of commits and are merged back late, so describe walks far, as on
# git/git; an annotated tag on main every ~300 commits; clock skew.
generate() {
  git init -q -b main "$1"
  python3 - "${GIT_BENCH_COMMITS:-60000}" <<'EOF' | git -C "$1" fast-import --quiet
import random, sys
random.seed(16)
n, w = int(sys.argv[1]), sys.stdout.write
heads, mains, date = {}, [], 1600000000
for k in range(1, n + 1):
    b = random.randrange(1, 41) if k % 3 else 0  # two commits in three on a topic branch
    date += random.choice((0, 1, 30, 300, 3000, -200))
    w("commit refs/heads/%s\nmark :%d\ncommitter B <b@e> %d +0000\ndata 2\nc\n"
      % ("main" if b == 0 else "t%d" % b, k, date))
    if b in heads:
        w("from :%d\n" % heads[b])
    elif mains:  # a topic starts from an older main commit, as maint-based topics do
        w("from :%d\n" % mains[-random.randint(1, min(len(mains), 3000))])
    if b == 0:
        for t, m in list(heads.items()):
            if t and random.random() < 0.02:  # a topic is merged some 150 main commits after it forked
                w("merge :%d\n" % m)
                del heads[t]
    if k == 1:
        for f in range(3000):
            w("M 644 inline d%d/f%d\ndata 2\n%d\n" % (f % 60, f, f % 10))
    w("M 644 inline d%d/f%d\ndata %d\n%d\n\n" % (k % 60, k % 3000, len(str(k)), k))
    heads[b] = k
    if b == 0:
        mains.append(k)
    if b == 0 and random.random() < 0.01:
        w("tag v%d.%d.%d\nfrom :%d\ntagger B <b@e> %d +0000\ndata 2\nt\n" % (k // 10000, k // 100 % 100, k % 100, k, date))
EOF
  git -C "$1" repack -adq && git -C "$1" pack-refs --all
}

# checkout DIR REV: a clone of the history at REV (HEAD: its branch), the
# index refreshed once by git as any user's git status would.
checkout() {
  git clone -q "$HISTORY" "$1" 2>/dev/null
  [ "$2" = HEAD ] || git -C "$1" checkout -q --detach "$2"
  git -C "$1" status --porcelain --untracked-files=no >/dev/null
}

if git -C "$UPSTREAM" rev-parse -q --verify "$GITGIT_FIRST^{commit}" >/dev/null 2>&1; then
  HISTORY=$UPSTREAM
  SHAPE="git/git ($(git -C "$UPSTREAM" rev-list --count HEAD) commits, $(git -C "$UPSTREAM" tag | wc -l) tags)"
  OLD=v2.0.0~5
else
  HISTORY=$TMP/generated
  generate "$HISTORY"
  SHAPE="generated ($(git -C "$HISTORY" rev-list --count main) commits, $(git -C "$HISTORY" tag | wc -l) tags)"
  OLD=main~$(( $(git -C "$HISTORY" rev-list --count --first-parent main) * 6 / 10 ))
fi
checkout "$TMP/head" HEAD
checkout "$TMP/old" "$OLD"

# alternate DIR: "relrun_wall git_wall relrun_cpu git_cpu" in ms: medians of
# wall time and of user+system time, runs alternated (relrun, git, relrun,
# ...) so that a change of load on a shared machine hits both alike.
alternate() {
  python3 - "$1" "$RELRUN" "$SRC/scripts/version.lua" "${RUNS:-21}" <<'EOF'
import os, statistics, subprocess, sys, time
d, relrun, script, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cmds = [[relrun, script], ["git", "describe", "--tags", "--long", "--dirty"]]
wall, cpu = [[], []], [[], []]
for r in range(runs + 3):  # three rounds warm the caches
    for i, c in enumerate(cmds):
        t = time.perf_counter()
        p = subprocess.Popen(c, cwd=d, stdout=subprocess.DEVNULL)
        _, status, ru = os.wait4(p.pid, 0)
        if status != 0: sys.exit("%s failed in %s" % (c, d))
        if r >= 3:
            wall[i].append(time.perf_counter() - t)
            cpu[i].append(ru.ru_utime + ru.ru_stime)
m = lambda v: "%.1f" % (statistics.median(v) * 1000)
print(m(wall[0]), m(wall[1]), m(cpu[0]), m(cpu[1]))
EOF
}

# same DIR: what version.lua prints there is what setuptools_scm prints and
# has git describe's distance and id; prints why not, nothing when so.
same() {
  local ours theirs desc n h
  ours=$(cd "$1" && "$RELRUN" "$SRC/scripts/version.lua")
  theirs=$(cd "$1" && /usr/bin/python3 -W ignore -m setuptools_scm 2>/dev/null)
  desc=$(git -C "$1" describe --tags --long --dirty)
  [ "$ours" = "$theirs" ] || { echo "relrun $ours, setuptools_scm $theirs"; return; }
  n=${desc%-g*}; n=${n##*-}; h=${desc##*-g}; h=${h%-dirty}
  [ "$n" = 0 ] || case $ours in *".dev$n+g$h"*) ;; *) echo "relrun $ours, git describe $desc" ;; esac
}

# The parts inside relrun (CPU ms, os.clock) and git's own commands.
cat >"$TMP/parts.lua" <<'EOF'
local t0 = os.clock()
local git = require "relrun.git"
local r = assert(git.open("."))
local t1 = os.clock()
assert(r:head())
local t2 = os.clock()
local st = assert(r:status())
local t3 = os.clock()
assert(r:describe { match = "*[0-9]*", tags = true })
local t4 = os.clock()
io.write(string.format("open %.1f, head %.1f, status %.1f (%d files), describe %.1f",
  (t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3, #st.files, (t4 - t3) * 1e3))
EOF
parts() {
  local rr gs gd
  rr=$(cd "$1" && "$RELRUN" "$TMP/parts.lua")
  gs=$(cd "$1" && mean_ms git status --porcelain --untracked-files=no)
  gd=$(cd "$1" && mean_ms git describe --tags --long)
  row "parts, $2 (relrun cpu; git wall)" "$rr" "git status -uno ${gs} ms; git describe ${gd} ms" "-" "info" "-"
}

echo "| history: $SHAPE; old commit: $OLD | | | | | |"
for graph in without with; do
  for where in head old; do
    d=$TMP/$where
    if [ "$graph" = with ]; then git -C "$d" commit-graph write --reachable 2>/dev/null; fi
    label="version.lua vs git describe, $where$( [ "$where" = old ] && echo " ($OLD)"), $graph commit-graph"
    why=$(same "$d")
    if [ -n "$why" ]; then row "$label" "WRONG" "$why" "-" "same output" "✗ differs"; continue; fi
    read -r rw gw rc gc < <(alternate "$d")
    x=$(ratio "$rw" "$gw")
    row "$label (wall; cpu)" "${rw} ms; ${rc} ms" "git ${gw} ms; ${gc} ms" "${x}x; $(ratio "$rc" "$gc")x" "≤ 1x" "$(verdict "$x" le 1)"
    parts "$d" "$where, $graph commit-graph"
  done
done

# git/git's first commits store file modes as 100664: git calls the checkout
# clean, and so must relrun (libgit2's status did not).
if [ "$HISTORY" = "$UPSTREAM" ]; then
  git -C "$TMP/old" checkout -q --detach "$GITGIT_FIRST"
  gitsays=$(git -C "$TMP/old" status --porcelain --untracked-files=no | wc -l)
  v=$(cd "$TMP/old" && "$RELRUN" "$SRC/scripts/version.lua")
  s=$(cd "$TMP/old" && /usr/bin/python3 -W ignore -m setuptools_scm 2>/dev/null)
  ok=$([ "$v" = "$s" ] && [ "$gitsays" = 0 ] && case $v in *.d2*) false ;; *) true ;; esac && echo "✓" || echo "✗ missed")
  row "git/git's first commit (modes 100664): version" "$v" "setuptools_scm $s; git status: $gitsays changed" "-" "same, clean" "$ok"
fi
