# relrun.http vs the curl program: a streamed 512 MiB upload (PUT from a file)
# and download (to a file) against tests/fakes/http_echo.py on 127.0.0.1.
# Targets: no slower than curl (ratio ≤ 1.1), peak RSS ≤ 32 MB.
. bench/lib.sh
tmp=${BENCH_TMP:-$(mktemp -d)}
big=$tmp/http-bench.bin
head -c $((512 * 1024 * 1024)) /dev/zero > "$big"
python3 tests/fakes/http_echo.py --port-file "$tmp/http-bench.port" >/dev/null 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -f "$big" "$tmp"/http-bench.*' EXIT
for _ in $(seq 100); do [ -s "$tmp/http-bench.port" ] && break; sleep 0.05; done
url="http://127.0.0.1:$(cat "$tmp/http-bench.port")"
cat > "$tmp/http-bench-up.lua" <<'LUA'
local http = require "relrun.http"
assert(http.request{ method = "PUT", url = arg[1] .. "/echo", body = { file = arg[2] } })
LUA
cat > "$tmp/http-bench-down.lua" <<'LUA'
local http = require "relrun.http"
assert(http.request{ url = arg[1] .. "/bytes/536870912", output = arg[2] })
LUA
RUNS=3
up_rr=$(mean_ms "$RELRUN $tmp/http-bench-up.lua $url $big")
up_curl=$(mean_ms "curl -s -o /dev/null -T $big $url/echo")
r=$(ratio "$up_rr" "$up_curl")
row "PUT 512 MiB from a file" "${up_rr} ms" "curl -T ${up_curl} ms" "${r}x" "≤ 1.1x" "$(verdict "$r" le 1.1)"
down_rr=$(mean_ms "$RELRUN $tmp/http-bench-down.lua $url $tmp/http-bench.out")
down_curl=$(mean_ms "curl -s -o $tmp/http-bench.out $url/bytes/536870912")
r=$(ratio "$down_rr" "$down_curl")
row "GET 512 MiB to a file" "${down_rr} ms" "curl -o ${down_curl} ms" "${r}x" "≤ 1.1x" "$(verdict "$r" le 1.1)"
rss=$(peak_rss_kb "$RELRUN" "$tmp/http-bench-up.lua" "$url" "$big")
rss_curl=$(peak_rss_kb curl -s -o /dev/null -T "$big" "$url/echo")
row "peak RSS, 512 MiB upload" "$((rss / 1024)) MB" "curl $((rss_curl / 1024)) MB" "$(ratio "$rss" "$rss_curl")x" "≤ 32 MB" "$(verdict "$((rss / 1024))" le 32)"
