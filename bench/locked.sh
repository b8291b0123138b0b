# What `relrun --locked` adds: the same script run with and without the
# relrun.lock check, in a project that vendored every script and library
# (relrun vendor --all: ~60 files hashed and compared) plus the script
# itself, which returns at once. Target: at most 5 ms more.
. bench/lib.sh
proj="$BENCH_TMP/locked"
mkdir -p "$proj" && git init -q "$proj"
(cd "$proj" && "$RELRUN" vendor --all >/dev/null && printf 'return 0\n' > .relrun-scripts/noop.lua \
  && "$RELRUN" lock >/dev/null) || { row "--locked overhead" failed "" "" "" "✗"; exit 0; }
files=$(grep -c '"sha256"' "$proj/relrun.lock")
cd "$proj" || exit 1
plain=$(RUNS=50 mean_ms "$RELRUN noop")
locked=$(RUNS=50 mean_ms "$RELRUN --locked noop")
cd - >/dev/null || exit 1
added=$(python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$locked" "$plain")
row "--locked check ($files files)" "+${added} ms (${locked} ms)" "unlocked ${plain} ms" "" "≤ +5 ms" \
  "$(verdict "$added" le 5)"
