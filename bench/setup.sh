# scripts/setup.lua against moto (IAM, S3, STS) and the CodeArtifact fake on
# loopback, in the same run as the aws cli doing RELEASE.md's "Prerequisites"
# by hand:
#   first run: create domain, repository, bucket, OIDC provider, role, policy
#     (relrun scripts/setup.lua vs the six aws cli commands RELEASE.md lists);
#   rerun: find that everything exists (relrun reads and compares the
#     documents; the aws cli only describes/gets each resource).
# Target: relrun ≥ 5x faster in both (one process and one connection per
# service, against one interpreter start per command).
. bench/lib.sh
set -u
tmp="${BENCH_TMP:-$(mktemp -d)}/setup"
mkdir -p "$tmp"
moto_pid= ca_pid=
cleanup() {
  [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null
  [ -n "$ca_pid" ] && kill "$ca_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

python3 tests/support/aws_moto.py --port-file "$tmp/moto.port" >"$tmp/moto.log" 2>&1 &
moto_pid=$!
python3 tests/fakes/codeartifact.py --port-file "$tmp/ca.port" --account 123456789012 >"$tmp/ca.log" 2>&1 &
ca_pid=$!
for _ in $(seq 100); do [ -s "$tmp/moto.port" ] && [ -s "$tmp/ca.port" ] && break; sleep 0.1; done
moto="http://127.0.0.1:$(cat "$tmp/moto.port")"
ca="http://127.0.0.1:$(cat "$tmp/ca.port")"

export AWS_ACCESS_KEY_ID=AKIDBENCHSETUP0001 AWS_SECRET_ACCESS_KEY=bench/secret/key AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ROLE_ARN S3_WHEELS_BUCKET GITHUB_TOKEN CODEARTIFACT_ACCOUNT_ID

proj="$tmp/project"
mkdir -p "$proj"
cp examples/stock-pipeline/pyproject.toml "$proj/"

# relrun: one command, fresh names per run so each run creates everything.
cat >"$tmp/relrun_setup.sh" <<EOF
#!/bin/sh
n=\$(cat "$tmp/n" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >"$tmp/n"
exec env AWS_ENDPOINT_URL=$moto AWS_ENDPOINT_URL_CODEARTIFACT=$ca "$RELRUN" scripts/setup.lua --project "$proj" \\
  --domain "r\$n" --repository pypi --bucket "rr-\$n" --role-name "rr-\$n" --github-repository acme/stock-pipeline >/dev/null
EOF
# aws cli: RELEASE.md's commands (the OIDC provider once: IAM keeps one per URL).
cat >"$tmp/cli_setup.sh" <<EOF
#!/bin/sh
n=\$(cat "$tmp/m" 2>/dev/null || echo 0); n=\$((n + 1)); echo \$n >"$tmp/m"
set -e
aws codeartifact create-domain --domain "c\$n" --endpoint-url $ca >/dev/null
aws codeartifact create-repository --domain "c\$n" --repository pypi --description "Stock pipeline Python packages" \\
  --endpoint-url $ca >/dev/null
aws s3 mb "s3://cli-\$n" --endpoint-url $moto >/dev/null
aws iam create-open-id-connect-provider --url "https://token.actions.githubusercontent.com/\$n" \\
  --client-id-list sts.amazonaws.com --thumbprint-list 6938fd4d98bab03faadb97b34396831e3780aea1 \\
  --endpoint-url $moto >/dev/null
aws iam create-role --role-name "cli-\$n" --assume-role-policy-document "file://$tmp/trust.json" \\
  --endpoint-url $moto >/dev/null
aws iam put-role-policy --role-name "cli-\$n" --policy-name relrun-release \\
  --policy-document "file://$tmp/permissions.json" --endpoint-url $moto >/dev/null
EOF
chmod +x "$tmp/relrun_setup.sh" "$tmp/cli_setup.sh"
# The same documents relrun writes, for the cli to send.
env AWS_ENDPOINT_URL="$moto" AWS_ENDPOINT_URL_CODEARTIFACT="$ca" "$RELRUN" scripts/setup.lua --project "$proj" \
  --domain docs --repository pypi --bucket docs --github-repository acme/stock-pipeline --dry-run >"$tmp/plan.txt"
python3 - "$tmp" <<'EOF'
import re, sys
text = open(sys.argv[1] + "/plan.txt").read()
docs = re.findall(r"^(\{\n.*?\n\})$", text, re.S | re.M)
open(sys.argv[1] + "/trust.json", "w").write(docs[0])
open(sys.argv[1] + "/permissions.json", "w").write(docs[1])
EOF

# Each must work before it is timed (hyperfine's numbers of a failing command mean nothing).
"$tmp/relrun_setup.sh" || { echo "| setup.sh | relrun setup failed | | | | ✗ |"; exit 1; }
"$tmp/cli_setup.sh" || { echo "| setup.sh | aws cli setup failed | | | | ✗ |"; exit 1; }
rr=$(RUNS=10 mean_ms "$tmp/relrun_setup.sh")
cli=$(RUNS=3 mean_ms "$tmp/cli_setup.sh")
r=$(ratio "$cli" "$rr")
row "setup: create everything (moto + fake)" "${rr} ms" "aws cli, 6 commands ${cli} ms" "${r}x faster" "≥ 5x" \
  "$(verdict "$r" ge 5)"

# Rerun: everything exists.
env AWS_ENDPOINT_URL="$moto" AWS_ENDPOINT_URL_CODEARTIFACT="$ca" "$RELRUN" scripts/setup.lua --project "$proj" \
  --domain same --repository pypi --bucket same-bucket --role-name same --github-repository acme/stock-pipeline \
  >/dev/null
cat >"$tmp/cli_check.sh" <<EOF
#!/bin/sh
set -e
aws codeartifact describe-domain --domain same --endpoint-url $ca >/dev/null
aws codeartifact describe-repository --domain same --repository pypi --endpoint-url $ca >/dev/null
aws s3api head-bucket --bucket same-bucket --endpoint-url $moto >/dev/null
aws iam list-open-id-connect-providers --endpoint-url $moto >/dev/null
aws iam get-role --role-name same --endpoint-url $moto >/dev/null
aws iam get-role-policy --role-name same --policy-name relrun-release --endpoint-url $moto >/dev/null
EOF
chmod +x "$tmp/cli_check.sh"
"$tmp/cli_check.sh" || { echo "| setup.sh | aws cli reads failed | | | | ✗ |"; exit 1; }
rr=$(RUNS=10 mean_ms "env AWS_ENDPOINT_URL=$moto AWS_ENDPOINT_URL_CODEARTIFACT=$ca $RELRUN scripts/setup.lua \
  --project $proj --domain same --repository pypi --bucket same-bucket --role-name same \
  --github-repository acme/stock-pipeline")
cli=$(RUNS=3 mean_ms "$tmp/cli_check.sh")
r=$(ratio "$cli" "$rr")
row "setup: rerun, all exists (moto + fake)" "${rr} ms" "aws cli, 6 reads ${cli} ms" "${r}x faster" "≥ 5x" \
  "$(verdict "$r" ge 5)"
