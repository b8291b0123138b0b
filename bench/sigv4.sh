# SigV4 signatures per second: relrun.sigv4.sign in a loop vs botocore's
# SigV4Auth.add_auth in a loop, same request, same run (target: at least 10x).
. bench/lib.sh
N=${SIGV4_N:-20000}
rr=$("$RELRUN" -e '
  local sigv4 = require "relrun.sigv4"
  local n = tonumber(arg and arg[1]) or '"$N"'
  local req = { method = "POST", service = "codeartifact", region = "us-east-1",
    url = "https://codeartifact.us-east-1.amazonaws.com/v1/package/versions?domain=d&domain-owner=111122223333&format=pypi&package=p&repository=r",
    headers = { ["content-type"] = "application/json" }, body = "{\"maxResults\": 100}",
    access_key = "AKIDEXAMPLE", secret_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    session_token = "FQoGZXIvYXdzEXAMPLETOKEN", time = 1440938160 }
  local t0 = os.clock()
  for _ = 1, n do sigv4.sign(req) end
  print(string.format("%.0f", n / (os.clock() - t0)))')
py=$(python3 - "$((N / 4))" <<'PY'
import sys, time
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
n = int(sys.argv[1])
auth = SigV4Auth(Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "FQoGZXIvYXdzEXAMPLETOKEN"),
                 "codeartifact", "us-east-1")
url = ("https://codeartifact.us-east-1.amazonaws.com/v1/package/versions"
       "?domain=d&domain-owner=111122223333&format=pypi&package=p&repository=r")
t0 = time.process_time()
for _ in range(n):
    req = AWSRequest(method="POST", url=url, data=b'{"maxResults": 100}', headers={"content-type": "application/json"})
    auth.add_auth(req)
print("%.0f" % (n / (time.process_time() - t0)))
PY
)
r=$(ratio "$rr" "$py")
row "SigV4 signatures/s (CPU)" "${rr}/s" "botocore ${py}/s" "${r}x" "≥ 10x" "$(verdict "$r" ge 10)"
