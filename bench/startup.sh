# relrun startup vs bare lua5.4 (target: at most 2x).
. bench/lib.sh
lua=$(RUNS=50 mean_ms "lua5.4 -e ''")
rr=$(RUNS=50 mean_ms "$RELRUN -e ''")
r=$(ratio "$rr" "$lua")
row "startup (-e '')" "${rr} ms" "lua5.4 ${lua} ms" "${r}x" "≤ 2x" "$(verdict "$r" le 2)"
