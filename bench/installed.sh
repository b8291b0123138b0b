# Start-up of an installed relrun (cmake --install of the build into a
# prefix, then moved: modules found relative to the program) vs bare lua5.4
# (target: at most 2x).
. bench/lib.sh
build=$(dirname "$RELRUN")
prefix="$BENCH_TMP/installed"
cmake --install "$build" --prefix "$prefix.first" >/dev/null && mv "$prefix.first" "$prefix"
lua=$(RUNS=50 mean_ms "lua5.4 -e ''")
rr=$(RUNS=50 mean_ms "$prefix/bin/relrun -e ''")
r=$(ratio "$rr" "$lua")
row "installed start-up (-e '')" "${rr} ms" "lua5.4 ${lua} ms" "${r}x" "≤ 2x" "$(verdict "$r" le 2)"
