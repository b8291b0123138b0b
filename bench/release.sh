# The sample's whole publish against the loopback peers (bench/release_world.lua:
# moto, the CodeArtifact and GitHub fakes, git over HTTP), same run:
#   relrun   `relrun scripts/release.lua publish` under simulated Actions: OIDC →
#            STS → token → build → upload → S3 → GitHub Release → instructions →
#            verify (pip install into a fresh venv + import)
#   today    the chain a workflow runs: `aws codeartifact get-authorization-token`
#            (+ get-repository-endpoint), `python -m build`, `twine upload`,
#            `aws s3 cp` (each file), a release created and its assets uploaded
#            with curl (no verify; credentials given, no OIDC step)
# relrun's own time excludes the Python subprocesses (the build, the venv, pip,
# the import check): their wall time comes from `strace -f --seccomp-bpf`
# (only process syscalls stop), as the union of the intervals of relrun's
# direct children that run python or pip. The chain's own time excludes its
# `python -m build`.
. bench/lib.sh
for tool in strace aws twine jq curl; do
  command -v "$tool" >/dev/null || { row "release publish" "needs $tool" "" "" "" "✗ skipped"; exit 0; }
done
T="${BENCH_TMP:-$(mktemp -d)}/release"
mkdir -p "$T"
RUNS="${RELEASE_RUNS:-3}"
RELRUN_SOURCE_DIR="$PWD" "$RELRUN" bench/release_world.lua "$T/world.sh" || exit 1
# shellcheck disable=SC1091
. "$T/world.sh"
cleanup() { for p in $W_PIDS; do kill "$p" 2>/dev/null; done; rm -rf "$W_TMP"; }
trap cleanup EXIT
SRC="$PWD"
PY="$(RELRUN_SOURCE_DIR="$SRC" "$RELRUN" -e 'print((require("relrun.build").find_python()))' 2>/dev/null \
  || echo /usr/bin/python3)"
[ -x "$PY" ] || PY=/usr/bin/python3
now() { date +%s%N; }
ms() { echo $(( ($2 - $1) / 1000000 )); }

# relrun: one tag per run on a new commit, then publish under strace.
children_ms() {
  python3 - "$1" <<'PY'
import re, sys
lines = open(sys.argv[1]).read().splitlines()
main = int(lines[0].split()[0])
spawn, first_exec, ends, t0, t1, pending = {}, {}, {}, None, None, None
for l in lines:
    m = re.match(r"(\d+)\s+(\d+\.\d+) (.*)", l)
    if not m:
        continue
    pid, ts, rest = int(m.group(1)), float(m.group(2)), m.group(3)
    t0 = ts if t0 is None else t0
    if pid == main and re.match(r"(?:clone3?|vfork|fork)\(.*<unfinished", rest):
        pending = ts
    c = re.match(r"(?:clone3?|vfork|fork)\(.*\) = (\d+)", rest) or \
        re.match(r"<\.\.\. (?:clone3?|vfork|fork) resumed>.*\) = (\d+)", rest)
    if c and pid == main:
        spawn[int(c.group(1))] = pending if "resumed" in rest else ts
    e = re.match(r'execve\("([^"]+)"', rest)
    if e and pid not in first_exec:
        first_exec[pid] = e.group(1)
    if rest.startswith("+++ exited") or rest.startswith("+++ killed"):
        ends[pid] = ts
        if pid == main:
            t1 = ts
spans = sorted((spawn[p], ends[p]) for p in spawn
               if p in ends and re.search(r"python|/pip", first_exec.get(p, "")))
total, cur = 0.0, None
for a, b in spans:
    if cur and a <= cur[1]:
        cur[1] = max(cur[1], b)
    else:
        if cur:
            total += cur[1] - cur[0]
        cur = [a, b]
if cur:
    total += cur[1] - cur[0]
print("%d %d" % ((t1 - t0) * 1000, total * 1000))
PY
}

rr_total=0; rr_py=0
for i in $(seq "$RUNS"); do
  v="2.$i.0"
  (cd "$W_CLONE" && export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.invalid GIT_COMMITTER_NAME=bench \
    GIT_COMMITTER_EMAIL=bench@example.invalid && echo "- $v" >> CHANGES.md && git commit -qam "bench $v" && git tag "v$v" \
    && git -c http.extraHeader="$W_AUTH" push -q origin main "v$v") >/dev/null 2>&1 || exit 1
  (cd "$W_CLONE" && strace -f --seccomp-bpf -q -ttt -e trace=clone,clone3,vfork,fork,execve -e signal=none \
    -o "$T/trace.$i" "$RELRUN" "$SRC/scripts/release.lua" publish >"$T/rr.$i.log" 2>&1) \
    || { echo "| release.sh | relrun publish failed: $(tail -1 "$T/rr.$i.log") | | | | ✗ |"; exit 1; }
  read -r tot py < <(children_ms "$T/trace.$i")
  rr_total=$((rr_total + tot)); rr_py=$((rr_py + py))
done
rr_total=$((rr_total / RUNS)); rr_py=$((rr_py / RUNS)); rr_own=$((rr_total - rr_py))

# a rerun with nothing to do (every step already done), the median of 5
rerun_runs=""
for i in 1 2 3 4 5; do
  t0=$(now)
  (cd "$W_CLONE" && "$RELRUN" "$SRC/scripts/release.lua" publish >"$T/rerun.$i.log" 2>&1) \
    || { echo "| release.sh | the rerun failed: $(tail -1 "$T/rerun.$i.log") | | | | ✗ |"; exit 1; }
  rerun_runs="$rerun_runs $(ms "$t0" "$(now)")"
done
rerun=$(python3 -c 'import sys,statistics; print(int(statistics.median(map(int, sys.argv[1:]))))' $rerun_runs)

# today's chain, with the same peers
export AWS_ACCESS_KEY_ID=AKIAE2ESETUP0000 AWS_SECRET_ACCESS_KEY=e2e/setup+Secret0123456789abcdefghij
export AWS_DEFAULT_REGION=us-east-1
ch_total=0; ch_build=0
for i in $(seq "$RUNS"); do
  v="1.$i.0"
  rm -rf "$T/src" "$T/dist" && cp -r examples/stock-pipeline "$T/src" && rm -rf "$T/src/build" "$T/src/dist"
  t0=$(now)
  TOKEN=$(aws codeartifact get-authorization-token --domain acme --domain-owner 111122223333 \
    --query authorizationToken --output text --endpoint-url "$W_CA")
  EP=$(aws codeartifact get-repository-endpoint --domain acme --domain-owner 111122223333 --repository python \
    --format pypi --query repositoryEndpoint --output text --endpoint-url "$W_CA")
  b0=$(now)
  (cd "$T/src" && SETUPTOOLS_SCM_PRETEND_VERSION=$v "$PY" -m build --no-isolation --wheel --sdist \
    --outdir "$T/dist" >/dev/null 2>&1) || exit 1
  b1=$(now)
  twine upload --disable-progress-bar --non-interactive --repository-url "$EP" -u aws -p "$TOKEN" \
    "$T"/dist/* >/dev/null 2>&1 || { echo "| release.sh | twine failed | | | | ✗ |"; exit 1; }
  for f in "$T"/dist/*; do
    aws s3 cp --quiet "$f" "s3://acme-wheels/wheels/$(basename "$f")" --endpoint-url "$W_MOTO" || exit 1
  done
  UP=$(curl -sS -X POST -H "Authorization: Bearer $GITHUB_TOKEN" -H "Accept: application/vnd.github+json" \
    "$W_GH/repos/acme/stock-pipeline/releases" -d "{\"tag_name\":\"v$v\",\"name\":\"v$v\"}" \
    | jq -r .upload_url | sed 's/{.*}//')
  for f in "$T"/dist/*; do
    curl -sS -o /dev/null -X POST -H "Authorization: Bearer $GITHUB_TOKEN" \
      -H "Content-Type: application/octet-stream" --data-binary "@$f" "$UP?name=$(basename "$f")" || exit 1
  done
  t1=$(now)
  ch_total=$((ch_total + $(ms "$t0" "$t1"))); ch_build=$((ch_build + $(ms "$b0" "$b1")))
done
ch_total=$((ch_total / RUNS)); ch_build=$((ch_build / RUNS)); ch_own=$((ch_total - ch_build))

row "release publish, whole (relrun incl. verify)" "${rr_total} ms" "chain ${ch_total} ms" \
  "$(ratio "$rr_total" "$ch_total")x" "—" "info"
row "release publish, python subprocesses" "${rr_py} ms (build+venv+pip)" "chain ${ch_build} ms (build)" \
  "—" "—" "info"
row "release publish, own time excl. build/pip" "${rr_own} ms" "chain ${ch_own} ms" \
  "$(ratio "$rr_own" "$ch_own")x" "< 1x" "$(verdict "$rr_own" le "$ch_own")"
row "release publish, a rerun with nothing to do (CodeArtifact fake)" "${rerun} ms" "—" "—" "≤ 100 ms" \
  "$(verdict "$rerun" le 100)"
