# maintain.lua versions over 1,000 versions in the CodeArtifact fake (each a
# wheel and an sdist), against what a user runs without relrun: `aws
# codeartifact list-package-versions`, then `list-package-version-assets`
# for each version, in the same run. MAINTAIN_VERSIONS changes the count.
# relrun fetches the versions' DescribePackageVersion and assets 8 at a time
# over kept-alive connections; the aws cli starts once per call.
. bench/lib.sh
set -u
n="${MAINTAIN_VERSIONS:-1000}"
tmp="${BENCH_TMP:-$(mktemp -d)}/maintain"
mkdir -p "$tmp"
fake_pid=
cleanup() { [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

python3 tests/fakes/codeartifact.py --port-file "$tmp/port" >"$tmp/fake.log" 2>&1 &
fake_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$tmp/port")"

# n versions over a year: every tenth a final, the rest dev versions
python3 - "$n" >"$tmp/seed.json" <<'PY'
import json, sys, time
n = int(sys.argv[1]); now = time.time(); vs = []
for i in range(n):
    v = "1.%d.0" % (i // 10) if i % 10 == 0 else "1.%d.1.dev%d" % (i // 10, i)
    vs.append({"version": v, "published": now - (n - i) * 30000,
               "assets": [{"name": "stock_pipeline-%s-py3-none-any.whl" % v, "size": 40000 + i},
                          {"name": "stock_pipeline-%s.tar.gz" % v, "size": 30000}]})
print(json.dumps({"domain": "acme", "repository": "python", "package": "stock-pipeline", "versions": vs}))
PY
curl -sS -X POST --data-binary @"$tmp/seed.json" "$url/__seed" >/dev/null

export AWS_ACCESS_KEY_ID=AKIDBENCHMAINTAIN1 AWS_SECRET_ACCESS_KEY=bench/secret/key AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER= AWS_ENDPOINT_URL_CODEARTIFACT="$url"
export CODEARTIFACT_DOMAIN=acme CODEARTIFACT_ACCOUNT_ID=111122223333 CODEARTIFACT_REPOSITORY=python
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN GITHUB_ACTIONS GITHUB_STEP_SUMMARY
mkdir -p "$tmp/project"
printf '[project]\nname = "stock-pipeline"\nversion = "0"\n' >"$tmp/project/pyproject.toml"

got=$("$RELRUN" scripts/maintain.lua versions --project "$tmp/project" --json |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["total"]["versions"])')
[ "$got" = "$n" ] || { row "maintain.lua versions ($n versions)" "listed $got" "" "" "" "✗"; exit 1; }
rr=$(RUNS=5 mean_ms "$RELRUN scripts/maintain.lua versions --project $tmp/project --json")

args="--endpoint-url $url --domain acme --repository python --format pypi --package stock-pipeline"
s=$(date +%s%N)
count=0
for v in $(aws codeartifact list-package-versions $args --max-results 1000 --query 'versions[].version' --output text); do
  aws codeartifact list-package-version-assets $args --package-version "$v" --output json >/dev/null || exit 1
  count=$((count + 1))
done
e=$(date +%s%N)
cli=$(( (e - s) / 1000000 ))
[ "$count" = "$n" ] || { row "aws cli over $n versions" "" "saw $count" "" "" "✗"; exit 1; }
r=$(ratio "$cli" "$rr")
row "maintain.lua versions, $n versions (CodeArtifact fake)" "${rr} ms" \
    "aws cli list-package-versions + $n× list-package-version-assets ${cli} ms" "${r}x faster" "info" "-"
