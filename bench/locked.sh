# What `relrun --locked` adds: the same script run with and without the
# relrun.lock check, in a project that vendored every script and library
# (relrun vendor --all: ~60 files hashed and compared) plus the script
# itself, which returns at once. Target: at most 5 ms more.
#
# Two scripts: one that loads nothing, where the check also pays for
# loading OpenSSL's libcrypto (relrun.hash is a loadable module); and one
# that loads relrun.hash, as every release script does (release, verify,
# rollback hash what they publish), where the difference is the check alone.
. bench/lib.sh
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
  added=$(python3 -c "import sys; print('%.2f' % (float(sys.argv[1]) - float(sys.argv[2])))" "$locked" "$plain")
  what=$([ "$script" = noop ] && echo "a script loading nothing" || echo "a script loading relrun.hash")
  row "--locked check ($files files), $what" "+${added} ms (${locked} ms)" "unlocked ${plain} ms" "" "≤ +5 ms" \
    "$(verdict "$added" le 5)"
done
cd - >/dev/null || exit 1
