# shellcheck shell=bash
# A whole local release of the hatchling fixture (tests/fixtures/projects/
# hatchling), tagged, to the CodeArtifact fake on 127.0.0.1, same run:
#   relrun   `relrun scripts/release.lua publish`: the build (sdist from a clean
#            checkout, wheel from the sdist), inspection, upload, install
#            instructions, verify (pip install into a fresh venv from the
#            repository's index + import)
#   by hand  what a user runs: `python -m build`, `twine upload` to the
#            repository's PyPI endpoint, `python -m venv` + `pip install` from
#            its index + import
# Both with Debian's /usr/bin/python3 and its backends (--no-isolation,
# --skip-dependency-check: Debian's hatchling declares editables, which Debian
# lacks), the same repository and token (fetched once, untimed: a user has it
# from `relrun login` / .pypirc). Each run releases a new version of a fresh
# clone. Median of RELEASE_RUNS (default 3) runs each. A second row times the
# hand chain with a venv made as relrun's verify makes it (no pip of its
# own: `pip --python`), since `python -m venv` installing pip is most of the
# first chain's time.
. bench/lib.sh
for tool in aws twine git; do
  command -v "$tool" >/dev/null || { row "release hatchling" "needs $tool" "" "" "" "✗ skipped"; exit 0; }
done
set -e
W="${BENCH_TMP:-$(mktemp -d)}/release_hatchling"
rm -rf "$W"; mkdir -p "$W"
RUNS="${RELEASE_RUNS:-3}"
PY=/usr/bin/python3
ACCOUNT=111122223333
export AWS_ACCESS_KEY_ID=AKIDBENCH0000001 AWS_SECRET_ACCESS_KEY=bench/secret AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@example.com GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@example.com
export GIT_CONFIG_GLOBAL=/dev/null PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_CONFIG_FILE=/dev/null
unset PIP_INDEX_URL PIP_EXTRA_INDEX_URL GITHUB_TOKEN GITHUB_ACTIONS S3_WHEELS_BUCKET 2>/dev/null || true

python3 tests/fakes/codeartifact.py --port-file "$W/port" --account "$ACCOUNT" >/dev/null 2>&1 & srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 100); do [ -s "$W/port" ] && break; sleep 0.05; done
CA="http://127.0.0.1:$(cat "$W/port")"
ca() { aws codeartifact --endpoint-url "$CA" "$@"; }
ca create-domain --domain acme >/dev/null
ca create-repository --domain acme --domain-owner "$ACCOUNT" --repository python >/dev/null
TOKEN=$(ca get-authorization-token --domain acme --domain-owner "$ACCOUNT" --query authorizationToken --output text)
PYPI="$CA/d/acme-$ACCOUNT/pypi/python/"
INDEX="http://aws:$TOKEN@${PYPI#http://}simple/"

# project DIR VERSION: the fixture at VERSION, committed and tagged vVERSION.
project() {
  rm -rf "$1"; cp -r tests/fixtures/projects/hatchling "$1"
  sed -i "s/^version = \".*\"/version = \"$2\"/" "$1/pyproject.toml"
  (cd "$1" && git init -q -b main && git add -A && git commit -qm "Release $2" && git tag "v$2")
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
med() { python3 -c 'import sys,statistics; print("%.0f" % statistics.median(map(float, sys.argv[1:])))' "$@"; }

relrun_runs=""; hand_runs=""; fast_runs=""
for i in $(seq "$RUNS"); do
  project "$W/rr$i" "1.$i.0"
  s=$(now_ms)
  (cd "$W/rr$i" && CODEARTIFACT_DOMAIN=acme CODEARTIFACT_ACCOUNT_ID=$ACCOUNT CODEARTIFACT_REPOSITORY=python \
    AWS_ENDPOINT_URL_CODEARTIFACT="$CA" "$RELRUN" "$OLDPWD/scripts/release.lua" publish --no-isolation \
    --skip-dependency-check --python "$PY" >"$W/rr$i.log" 2>&1) || { cat "$W/rr$i.log" >&2; exit 1; }
  relrun_runs="$relrun_runs $(( $(now_ms) - s ))"
  grep -q "verify: import fx_hatchling" "$W/rr$i.log"

  project "$W/hand$i" "2.$i.0"
  s=$(now_ms)
  (cd "$W/hand$i" &&
   SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) $PY -m build --no-isolation --skip-dependency-check --outdir dist . \
     >/dev/null 2>&1 &&
   twine upload --disable-progress-bar --non-interactive -u aws -p "$TOKEN" --repository-url "$PYPI" dist/* \
     >/dev/null 2>&1 &&
   $PY -m venv venv && venv/bin/pip install -q --index-url "$INDEX" "fx-hatchling==2.$i.0" &&
   venv/bin/python -c 'import fx_hatchling') || { echo "the hand-run chain failed" >&2; exit 1; }
  hand_runs="$hand_runs $(( $(now_ms) - s ))"

  # the same by a user who knows pip's --python (pip >= 22.3): a venv without
  # its own pip, as relrun's verify makes it
  project "$W/fast$i" "3.$i.0"
  s=$(now_ms)
  (cd "$W/fast$i" &&
   SOURCE_DATE_EPOCH=$(git log -1 --format=%ct) $PY -m build --no-isolation --skip-dependency-check --outdir dist . \
     >/dev/null 2>&1 &&
   twine upload --disable-progress-bar --non-interactive -u aws -p "$TOKEN" --repository-url "$PYPI" dist/* \
     >/dev/null 2>&1 &&
   $PY -m venv --without-pip venv &&
   $PY -m pip --python venv/bin/python install -q --index-url "$INDEX" "fx-hatchling==3.$i.0" &&
   venv/bin/python -c 'import fx_hatchling') || { echo "the hand-run chain (pip --python) failed" >&2; exit 1; }
  fast_runs="$fast_runs $(( $(now_ms) - s ))"
done
# shellcheck disable=SC2086 # one word per run
rr=$(med $relrun_runs)
# shellcheck disable=SC2086
hand=$(med $hand_runs)
# shellcheck disable=SC2086
fast=$(med $fast_runs)
row "release hatchling fixture (CodeArtifact fake): build+publish+verify" "${rr} ms" \
  "python -m build + twine upload + venv + pip install ${hand} ms" "$(ratio "$rr" "$hand")x" "≤ 1.0x" \
  "$(verdict "$(ratio "$rr" "$hand")" le 1.0)"
row "release hatchling fixture (CodeArtifact fake): the same, venv --without-pip + pip --python by hand" "${rr} ms" \
  "python -m build + twine upload + venv + pip --python install ${fast} ms" "$(ratio "$rr" "$fast")x" "info" "-"
