# relrun.pypi upload vs twine upload (Debian's twine 4.0.2), same run, same
# 200 MB wheel, same loopback server (tests/fakes/pypi_record.py --sink).
# Targets (issue 5): at most 1/3 of twine's time, peak RSS at most 32 MB.
. bench/lib.sh
T="${BENCH_TMP:-$(mktemp -d)}/pypi"
mkdir -p "$T"
SIZE_MB="${PYPI_BENCH_MB:-200}"

# A real wheel (the example's) plus a stored member of random bytes.
rm -rf "$T/src" && cp -r examples/stock-pipeline "$T/src"
(cd "$T/src" && SETUPTOOLS_SCM_PRETEND_VERSION=0.1.0 \
  /usr/bin/python3 -m build --no-isolation --wheel --outdir "$T/dist" >/dev/null 2>&1) || exit 1
W="$T/stock_pipeline-0.1.0-py3-none-any.whl"
/usr/bin/python3 - "$T/dist/stock_pipeline-0.1.0-py3-none-any.whl" "$W" "$SIZE_MB" <<'PY'
import os, shutil, sys, zipfile
shutil.copy(sys.argv[1], sys.argv[2])
with zipfile.ZipFile(sys.argv[2], "a", zipfile.ZIP_STORED) as z:
    with z.open("bronze/blob.bin", "w", force_zip64=True) as f:
        for _ in range(int(sys.argv[3])):
            f.write(os.urandom(1 << 20))
PY

/usr/bin/python3 tests/fakes/pypi_record.py --sink --record "$T/rec" --port-file "$T/port" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null' EXIT
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
URL="http://127.0.0.1:$(cat "$T/port")/legacy/"

cat > "$T/up.lua" <<LUA
local r, err = require("relrun.pypi.upload").upload{ url = "$URL", path = "$W", username = "u",
  password = "p", progress = "none" }
if not r then io.stderr:write(err, "\n") os.exit(1) end
LUA
export TWINE_USERNAME=u TWINE_PASSWORD=p TWINE_NON_INTERACTIVE=1
TWINE="/usr/bin/twine upload --disable-progress-bar --repository-url $URL $W"

rr=$(RUNS=3 mean_ms "$RELRUN $T/up.lua")
tw=$(RUNS=3 mean_ms "$TWINE")
r=$(ratio "$rr" "$tw")
row "upload ${SIZE_MB} MB wheel" "${rr} ms" "twine ${tw} ms" "${r}x" "≤ 0.33x" "$(verdict "$r" le 0.34)"
rr_rss=$(peak_rss_kb "$RELRUN" "$T/up.lua")
tw_rss=$(peak_rss_kb $TWINE)
row "upload peak RSS" "$((rr_rss / 1024)) MB" "twine $((tw_rss / 1024)) MB" "$(ratio "$rr_rss" "$tw_rss")x" "≤ 32 MB" \
  "$(verdict "$rr_rss" le 32768)"
