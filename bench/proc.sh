# relrun.proc against Python's subprocess (what a release script would
# otherwise use): process start rate, capturing large output, line streaming.
. bench/lib.sh
export RUNS="${RUNS:-5}"
T="${BENCH_TMP:-$(mktemp -d)}/proc"
mkdir -p "$T"

# compare NAME OTHER-LABEL LUA PYTHON: one row, relrun's time over Python's.
compare() {
  printf '%s\n' "$3" >"$T/b.lua"
  printf '%s\n' "$4" >"$T/b.py"
  local rr py r
  rr=$(mean_ms "$RELRUN $T/b.lua")
  py=$(mean_ms "python3 $T/b.py")
  r=$(ratio "$rr" "$py")
  row "$1" "${rr} ms" "$2 ${py} ms" "${r}x" "≤ 1x" "$(verdict "$r" le 1)"
}

compare "proc.run{true} x200, captured" "subprocess.run" '
local proc = require "relrun.proc"
for _ = 1, 200 do assert(proc.run{ argv = { "true" } }.code == 0) end' '
import subprocess
for _ in range(200):
    assert subprocess.run(["true"], capture_output=True).returncode == 0'

compare "capture 100 MB stdout + 50 MB stderr" "subprocess.run" '
local r = require("relrun.proc").run{ argv = { "sh", "-c",
  "head -c 100000000 /dev/zero; head -c 50000000 /dev/zero >&2" } }
assert(#r.stdout == 100000000 and #r.stderr == 50000000)' '
import subprocess
r = subprocess.run(["sh", "-c", "head -c 100000000 /dev/zero; head -c 50000000 /dev/zero >&2"],
                   capture_output=True)
assert len(r.stdout) == 100000000 and len(r.stderr) == 50000000'

compare "200k lines to a callback" "Popen line loop" '
local n = 0
require("relrun.proc").run{ argv = { "seq", "200000" }, stdout = function() n = n + 1 end }
assert(n == 200000)' '
import subprocess
p = subprocess.Popen(["seq", "200000"], stdout=subprocess.PIPE, text=True)
n = sum(1 for _ in p.stdout)
p.wait()
assert n == 200000'
