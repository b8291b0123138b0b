# relrun.aws against moto on loopback, in the same run as the aws cli:
#   STS GetCallerIdentity end to end (target: relrun >= 20x faster),
#   S3 upload of a 1 GiB file vs `aws s3 cp` (targets: no slower; relrun peak RSS <= 32 MB),
#   SigV4 signatures per second vs botocore's SigV4Auth.
# moto runs without signature checking here so both clients pay the same server cost.
. bench/lib.sh
set -u
tmp="${BENCH_TMP:-$(mktemp -d)}/aws"
mkdir -p "$tmp"
moto_pid=
moto_tmp=
cleanup() { [ -n "$moto_pid" ] && kill "$moto_pid" 2>/dev/null; rm -rf "$tmp" ${moto_tmp:+"$moto_tmp"}; }
trap cleanup EXIT

# moto spools every object over 5 MiB to a temporary file: on tmpfs, so the
# disk's writeback does not add seconds of noise to one run or the other.
moto_tmp=$(mktemp -d -p /dev/shm 2>/dev/null || mktemp -d)
TMPDIR="$moto_tmp" python3 tests/support/aws_moto.py --port-file "$tmp/port" >"$tmp/moto.log" 2>&1 &
moto_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
url="http://127.0.0.1:$(cat "$tmp/port")"

export AWS_ACCESS_KEY_ID=AKIDBENCHAWS000001 AWS_SECRET_ACCESS_KEY=bench/secret/key AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1 AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
export AWS_EC2_METADATA_DISABLED=true AWS_PAGER=
unset AWS_PROFILE AWS_SESSION_TOKEN

# -- GetCallerIdentity ---------------------------------------------------------
cat >"$tmp/whoami.lua" <<'EOF'
local me = assert(assert(require("relrun.aws.sts").client()):get_caller_identity())
io.write(me.arn, "\n")
EOF
rr=$(RUNS=30 mean_ms "env AWS_ENDPOINT_URL=$url $RELRUN $tmp/whoami.lua")
cli=$(RUNS=10 mean_ms "aws sts get-caller-identity --endpoint-url $url")
r=$(ratio "$cli" "$rr")
row "sts get-caller-identity (moto)" "${rr} ms" "aws cli v1 ${cli} ms" "${r}x faster" "≥ 20x" "$(verdict "$r" ge 20)"

# -- S3 upload of 1 GiB ----------------------------------------------------------
head -c $((1024 * 1024 * 1024)) /dev/urandom >"$tmp/big.bin"
aws s3api create-bucket --bucket bench --endpoint-url "$url" >/dev/null
cat >"$tmp/upload.lua" <<EOF
local s3 = assert(require("relrun.aws.s3").client())
assert(s3:upload_file{ bucket = "bench", key = "relrun.bin", file = "$tmp/big.bin" })
EOF
# Each tool UPLOAD_RUNS times (default 5), alternating: moto's speed drifts
# as it warms up and with the machine's load, so the medians are compared;
# every run is printed to stderr. Both are bound by moto's CPU (one core,
# Python) with the client on the other; its CompleteMultipartUpload
# re-hashes every part with the upload's checksum algorithm: SHA-256 for
# relrun, CRC32 for aws cli 1.45, about 0.3 s more for relrun's 1 GiB.
runs=${UPLOAD_RUNS:-5}
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: >"$tmp/rr.time"; : >"$tmp/cli.time"
up_rr() {
  /usr/bin/time -f '%e %M' -a -o "$tmp/rr.time" env AWS_ENDPOINT_URL="$url" "$RELRUN" "$tmp/upload.lua" >/dev/null
  aws s3api delete-object --bucket bench --key relrun.bin --endpoint-url "$url" >/dev/null
}
up_cli() {
  /usr/bin/time -f '%e %M' -a -o "$tmp/cli.time" aws s3 cp --quiet "$tmp/big.bin" s3://bench/cli.bin --endpoint-url "$url"
  aws s3api delete-object --bucket bench --key cli.bin --endpoint-url "$url" >/dev/null
}
# One upload each first, not counted: moto's first uploads into a fresh
# process are up to 1.5 s slower (allocator and page-cache warm-up).
up_rr; up_cli
: >"$tmp/rr.time"; : >"$tmp/cli.time"
for i in $(seq "$runs"); do
  # who goes first alternates too
  if [ $((i % 2)) = 1 ]; then up_rr; up_cli; else up_cli; up_rr; fi
  echo "s3 upload run $i: relrun $(tail -1 "$tmp/rr.time" | cut -d' ' -f1) s, aws s3 cp $(tail -1 "$tmp/cli.time" | cut -d' ' -f1) s" >&2
done
rr_s=$(median "$tmp/rr.time")
cli_s=$(median "$tmp/cli.time")
rr_kb=$(sort -k2 -n "$tmp/rr.time" | tail -1 | cut -d' ' -f2)
cli_kb=$(sort -k2 -n "$tmp/cli.time" | tail -1 | cut -d' ' -f2)
r=$(ratio "$rr_s" "$cli_s")
row "s3 upload 1 GiB (moto) time, median of $runs" "${rr_s} s" "aws s3 cp ${cli_s} s" "${r}x" "≤ 1x" "$(verdict "$r" le 1)"
rss_mb=$(python3 -c "print('%.1f' % ($rr_kb/1024))")
cli_mb=$(python3 -c "print('%.1f' % ($cli_kb/1024))")
row "s3 upload 1 GiB peak RSS" "${rss_mb} MB" "aws s3 cp ${cli_mb} MB" "$(ratio "$rss_mb" "$cli_mb")x" "≤ 32 MB" "$(verdict "$rss_mb" le 32)"
rm -f "$tmp/big.bin"

# -- signatures per second --------------------------------------------------------
rr_sps=$("$RELRUN" -e '
local sigv4, n = require "relrun.sigv4", 20000
local t = os.clock()
for i = 1, n do
  sigv4.sign{ method = "POST", url = "https://sts.us-east-1.amazonaws.com/?i=" .. i, headers = { ["content-type"] =
    "application/x-www-form-urlencoded" }, body = "Action=GetCallerIdentity&Version=2011-06-15", service = "sts",
    region = "us-east-1", access_key = "AKIDEXAMPLE", secret_key = "secret", time = 1440938160 }
end
print(string.format("%.0f", n / (os.clock() - t)))')
py_sps=$(python3 -c '
import time
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
c, n = Credentials("AKIDEXAMPLE", "secret"), 5000
t = time.process_time()
for i in range(n):
    r = AWSRequest(method="POST", url="https://sts.us-east-1.amazonaws.com/?i=%d" % i,
                   headers={"content-type": "application/x-www-form-urlencoded"},
                   data=b"Action=GetCallerIdentity&Version=2011-06-15")
    SigV4Auth(c, "sts", "us-east-1").add_auth(r)
print("%.0f" % (n / (time.process_time() - t)))')
r=$(ratio "$rr_sps" "$py_sps")
row "sigv4 signatures per second" "${rr_sps}/s" "botocore ${py_sps}/s" "${r}x" "—" "—"
