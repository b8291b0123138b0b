# relrun.fs against what a script would otherwise run: cp, rm -rf, Python's
# glob. relrun's copy also fsyncs and renames into place (cp does neither).
. bench/lib.sh
export RUNS="${RUNS:-5}"
T="${BENCH_TMP:-$(mktemp -d)}/fs"
rm -rf "$T"
mkdir -p "$T/tree"
head -c 200000000 /dev/urandom >"$T/big"
for d in $(seq 1 50); do
  mkdir -p "$T/tree/d$d"
  for f in $(seq 1 100); do : >"$T/tree/d$d/f$f.whl"; done
done

printf 'assert(require("relrun.fs").copy(arg[1], arg[2]))\n' >"$T/copy.lua"
rr=$(mean_ms "$RELRUN $T/copy.lua $T/big $T/big.rr")
other=$(mean_ms "cp $T/big $T/big.cp")
r=$(ratio "$rr" "$other")
row "copy 200 MB (atomic, fsync)" "${rr} ms" "cp ${other} ms" "${r}x" "≤ 2x" "$(verdict "$r" le 2)"

printf 'assert(#require("relrun.fs").glob(arg[1] .. "/*/*.whl") == 5000)\n' >"$T/globbench.lua"
printf 'import glob, sys\nassert len(sorted(glob.glob(sys.argv[1] + "/*/*.whl"))) == 5000\n' >"$T/globbench.py"
rr=$(mean_ms "$RELRUN $T/globbench.lua $T/tree")
other=$(mean_ms "python3 $T/globbench.py $T/tree")
r=$(ratio "$rr" "$other")
row "glob 5000 files, sorted" "${rr} ms" "python glob ${other} ms" "${r}x" "≤ 1x" "$(verdict "$r" le 1)"

# remove -r: each run removes a fresh copy made in hyperfine's --prepare.
printf 'assert(require("relrun.fs").remove(arg[1], { recursive = true }))\n' >"$T/rm.lua"
rm_ms() {
  local json; json=$(mktemp)
  hyperfine -N --warmup 1 --min-runs "$RUNS" --prepare "cp -r $T/tree $T/victim" \
    --export-json "$json" "$1" >/dev/null 2>&1
  python3 -c 'import json,sys; print("%.3f" % (json.load(open(sys.argv[1]))["results"][0]["mean"]*1000))' "$json"
  rm -f "$json"
}
rr=$(rm_ms "$RELRUN $T/rm.lua $T/victim")
other=$(rm_ms "rm -rf $T/victim")
r=$(ratio "$rr" "$other")
row "remove -r 5000 files in 50 folders" "${rr} ms" "rm -rf ${other} ms" "${r}x" "≤ 1.5x" "$(verdict "$r" le 1.5)"
rm -rf "$T"
