#!/bin/sh
# Build the libFuzzer harnesses (clang, ASan+UBSan, librelrun instrumented)
# in build-fuzz/ and run one for a while:
#     tests/fuzz/run.sh MODULE SECONDS [libFuzzer options...]
# New inputs go to build-fuzz/corpus/MODULE (seeded from tests/fuzz/corpus/MODULE,
# which stays small and hand-picked); a crash is written as
# build-fuzz/crash-* and makes the script exit non-zero. Replay one with
#     build-fuzz/fuzz_MODULE build-fuzz/crash-...
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 MODULE SECONDS [libFuzzer options...]" >&2
  echo "modules: $(cd "$(dirname "$0")" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//' | tr '\n' ' ')" >&2
  exit 2
fi
module=$1 seconds=$2
shift 2
src=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_FUZZ:-$src/build-fuzz}
[ -f "$src/tests/fuzz/fuzz_$module.c" ] || { echo "$0: no harness tests/fuzz/fuzz_$module.c" >&2; exit 2; }
command -v clang >/dev/null || { echo "$0: clang is missing (apt-get install clang libclang-rt-14-dev)" >&2; exit 2; }

CC=clang cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Debug -DRELRUN_FUZZ=ON >/dev/null
cmake --build "$build" -j "${JOBS:-2}" --target "fuzz_$module"

mkdir -p "$build/corpus/$module"
cd "$build"
# The archive and git harnesses write files on every input: memory, not disk.
if [ -z "${TMPDIR:-}" ] && [ -d /dev/shm ] && [ -w /dev/shm ]; then export TMPDIR=/dev/shm; fi
# detect_leaks: LSan at exit and on inputs that allocate more than they free.
ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$src/tests/lsan.supp:print_suppressions=0} \
  "./fuzz_$module" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
  "$@" "corpus/$module" "$src/tests/fuzz/corpus/$module"
