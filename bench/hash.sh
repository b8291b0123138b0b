# relrun.hash over a 1 GiB file (page cache warm):
# - sha256 alone vs `openssl dgst -sha256` (target: throughput >= 0.9x openssl's);
# - md5 + sha256 + blake2b_256 in one call vs Python hashlib doing the same three
#   in one pass with 1 MiB reads, as twine does (target: time <= 0.6x Python's).
. bench/lib.sh
set -e
: "${BENCH_TMP:?run through bench/run or set BENCH_TMP}"
big="$BENCH_TMP/hash-1g.bin"
# Incompressible bytes fast: AES-CTR keystream over zeros.
head -c 1073741824 /dev/zero | openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:relrun >"$big" 2>/dev/null
cat "$big" >/dev/null   # warm the page cache for everyone

cat >"$BENCH_TMP/hash-sha256.lua" <<LUA
assert(require("relrun.hash").file(arg[1], { "sha256" }))
LUA
cat >"$BENCH_TMP/hash-three.lua" <<LUA
assert(require("relrun.hash").file(arg[1], { "md5", "sha256", "blake2b_256" }))
LUA
cat >"$BENCH_TMP/hash-three.py" <<PY
import hashlib, sys
m, s, b = hashlib.md5(), hashlib.sha256(), hashlib.blake2b(digest_size=32)
with open(sys.argv[1], "rb") as f:
    while chunk := f.read(1 << 20):
        m.update(chunk); s.update(chunk); b.update(chunk)
PY

# The digests must agree before the times mean anything.
want=$(openssl dgst -sha256 -r "$big" | cut -d' ' -f1)
got=$("$RELRUN" -e "print(require('relrun.hash').file('$big', {'sha256'}).sha256)")
[ "$want" = "$got" ] || { echo "| hash.sh | sha256 mismatch: $got vs $want | | | | ✗ |"; exit 1; }

# pair_ms "A ARGS" "B ARGS": A and B run alternately (one warm-up each, then
# RUNS pairs) and their median wall times are printed in ms, "A B". On a
# shared machine the load changes from second to second; alternating puts
# both commands under the same conditions, which back-to-back series do not.
pair_ms() {
  python3 - "${RUNS:-5}" "$1" "$2" <<'PY'
import shlex, statistics, subprocess, sys, time
runs, cmds = int(sys.argv[1]), [shlex.split(c) for c in sys.argv[2:4]]
times = [[], []]
for i in range(runs + 1):
    for k, cmd in enumerate(cmds):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        if i > 0:
            times[k].append((time.perf_counter() - t) * 1000)
print("%.1f %.1f" % (statistics.median(times[0]), statistics.median(times[1])))
PY
}

export RUNS="${RUNS:-5}"
mib=1024
read -r r o < <(pair_ms "$RELRUN $BENCH_TMP/hash-sha256.lua $big" "openssl dgst -sha256 $big")
o_tp=$(python3 -c "print('%.0f' % ($mib / ($o / 1000)))")
r_tp=$(python3 -c "print('%.0f' % ($mib / ($r / 1000)))")
x=$(ratio "$r_tp" "$o_tp")
row "hash.file sha256, 1 GiB" "${r_tp} MiB/s" "openssl dgst ${o_tp} MiB/s" "${x}x" "≥ 0.9x" "$(verdict "$x" ge 0.9)"

read -r r p < <(pair_ms "$RELRUN $BENCH_TMP/hash-three.lua $big" "python3 $BENCH_TMP/hash-three.py $big")
x=$(ratio "$r" "$p")
row "hash.file md5+sha256+blake2b_256, 1 GiB" "${r} ms" "python hashlib ${p} ms" "${x}x" "≤ 0.6x" "$(verdict "$x" le 0.6)"
rm -f "$big"
