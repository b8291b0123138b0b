#!/usr/bin/env python3
"""A GitHub REST API fake for relrun's tests (stdlib + cryptography for RS256).

It serves what relrun's release flow uses, with GitHub's shapes and errors:
  GET  /repos/{o}/{r}/commits/{ref}/status        combined status
  GET  /repos/{o}/{r}/commits/{ref}/check-runs    check runs (paginated)
  GET  /repos/{o}/{r}/releases/tags/{tag}         404 when absent
  GET  /repos/{o}/{r}/releases                    (paginated)
  POST /repos/{o}/{r}/releases                    201, or 422 already_exists
  PATCH/DELETE /repos/{o}/{r}/releases/{id}
  GET  /repos/{o}/{r}/releases/{id}/assets        (paginated)
  GET  /repos/{o}/{r}/releases/assets/{id}         the asset; with Accept: application/octet-stream a
                                                  302 to its bytes on the uploads port, as github.com
                                                  sends them from another host (that request's
                                                  Authorization is listed in /__state download_auth)
  DELETE /repos/{o}/{r}/releases/assets/{id}
  GET  /repos/{o}/{r}/environments/{name}, PUT to create or update (reviewers
       resolved to the users the fake knows; 422 for an unknown one)
  GET/POST /repos/{o}/{r}/environments/{name}/deployment-branch-policies  (type "branch" or "tag")
  GET  /repos/{o}/{r}/actions/secrets/public-key  the repository's X25519 key (PyNaCl)
  GET  /repos/{o}/{r}/actions/secrets[/{name}]    names and dates, never values
  PUT  /repos/{o}/{r}/actions/secrets/{name}      {encrypted_value, key_id}: a libsodium
       sealed box, opened here with the private key (201 created, 204 updated;
       422 when it does not open); the decrypted values are in /__state secrets
  GET/POST /repos/{o}/{r}/actions/variables, GET/PATCH/DELETE .../variables/{name}
  GET  /users/{username}                          the users in /__state users
  GET  /repos/{o}/{r}/actions/runs?head_sha=&event=  workflow runs (paginated; the filters as GitHub's)
  GET  /repos/{o}/{r}/actions/runs/{id}           one run
  GET  /repos/{o}/{r}/actions/runs/{id}/jobs      its jobs and their steps (paginated)
  GET  /repos/{o}/{r}/actions/jobs/{id}/logs      302 to the job's plain-text log on the uploads port
                                                  (another origin, as GitHub's log storage; the
                                                  request's Authorization is listed in download_auth)
  GET  /repos/{o}/{r}/actions/runs/{id}/logs      302 to a zip of the run's logs, one file per job
  POST {upload_url}                               on a second port, as github.com uses another host
  GET  /download/{id}/{name}                      browser_download_url
  GET  /oidc/token?audience=A                     the Actions ID token endpoint: {"value": JWT}
  GET  /oidc/jwks                                 the key to verify those JWTs
                                                  (every JWT issued is listed in /__state oidc_issued)

Response shapes follow GitHub's REST API description for API version
2022-11-28; tests/fakes/github_shapes.json records the documented examples
and where each comes from, and github_fake_spec checks the fake against it.

PyNaCl (Debian's python3-nacl) is imported only when a secrets endpoint is
first used, so the fake runs without it for everything else; run it with
/usr/bin/python3 where the secrets are needed.

Requests need `Authorization: Bearer <token>` (or `token <token>`) equal to
--token; the OIDC endpoint needs the --request-token instead.

Test control (no auth): POST /__state merges JSON into the state (statuses,
check_runs, oidc claims), GET /__state returns it, POST /__run adds a
workflow run: {"head_sha", "head_branch" (the tag), "event": "push", "path",
"name", "hidden_polls": n (the run is listed only after n list requests),
"jobs": [{"name", "steps": [{"name", "fail": true}], "log": "text"}]}. A
run moves on by one step each time its jobs are read (queued, then each
step in progress and completed in turn; after a failed step the job's other
steps are skipped and the run ends "failure"), so a watcher sees every
change in order without any clock. POST /__fault queues
faults: {"status": 403, "rate_limited": true, "count": 1},
{"status": 502, "starter": true, "server": "uploads"} (an upload that fails
and leaves a "starter" asset holding the name, as GitHub's does; "server"
keeps a fault for the API or the uploads host) or
{"status": 429, "retry_after": 1} or {"status": 500}; "after": n lets n matching
requests through first (a token that expires mid-way: {"status": 401,
"after": 3, "count": 100, "path": "/actions/"}).
"""
import argparse
import base64
import hashlib
import io
import json
import re
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

LOCK = threading.Lock()
STATE = {
    "statuses": {},      # sha -> [ {context, state, description} ]
    "check_runs": {},    # sha -> [ {name, status, conclusion} ]
    "releases": [],
    "assets": {},        # asset id -> {meta, data}
    "environments": {},
    "next_id": 1,
    "oidc": {},          # claims to add or override
    "requests": [],      # method, path, auth scheme seen
    "oidc_issued": [],   # every JWT handed out
    "secrets": {},       # name -> {value (decrypted), key_id, created_at, updated_at}
    "variables": {},     # name -> {name, value, created_at, updated_at}
    "users": {"octocat": 1, "monalisa": 2},   # login -> id (GitHub's documented examples use octocat, 1)
    "no_digest": False,  # True: assets come without "digest", as older GitHub answers
    "download_auth": [], # the Authorization header of each /download request ("-" when none)
    "runs": [],          # workflow runs (POST /__run), each with its jobs, steps and progress
}
FAULTS = []
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ARGS = None
PORTS = {}


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(audience):
    now = int(time.time())
    repo = ARGS.repository
    claims = {
        "iss": "https://token.actions.githubusercontent.com",
        "aud": audience,
        "sub": "repo:%s:ref:refs/tags/%s" % (repo, ARGS.ref_name),
        "ref": "refs/tags/" + ARGS.ref_name,
        "ref_type": "tag",
        "repository": repo,
        "repository_owner": repo.split("/")[0],
        "repository_id": "123456",
        "job_workflow_ref": "%s/.github/workflows/release.yml@refs/tags/%s" % (repo, ARGS.ref_name),
        "iat": now,
        "nbf": now - 5,
        "exp": now + 300,
        "jti": b64url(hashlib.sha256(str(time.time_ns()).encode()).digest()[:12]),
    }
    claims.update(STATE["oidc"])
    header = {"alg": "RS256", "typ": "JWT", "kid": "relrun-test"}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    sig = KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64url(sig)


def jwks():
    numbers = KEY.public_key().public_numbers()
    n = numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")
    e = numbers.e.to_bytes(3, "big")
    return {"keys": [{"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "relrun-test",
                      "n": b64url(n), "e": b64url(e)}]}


SECRETS_KEY = None   # the repository's PyNaCl PrivateKey, made on first use


def secrets_key():
    global SECRETS_KEY
    if SECRETS_KEY is None:
        from nacl.public import PrivateKey   # python3-nacl (Debian)
        SECRETS_KEY = PrivateKey.generate()
    return SECRETS_KEY


def key_id():
    """GitHub's key_id is an opaque digit string; here a digest of the key."""
    raw = bytes(secrets_key().public_key)
    return str(int.from_bytes(hashlib.sha256(raw).digest()[:8], "big"))


def now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def user_json(login, uid):
    """A "Simple User", as GitHub's environment reviewers carry it."""
    base = "https://api.github.com/users/" + login
    return {
        "login": login, "id": uid, "node_id": base64.b64encode(("04:User%d" % uid).encode()).decode(),
        "avatar_url": "https://avatars.githubusercontent.com/u/%d?v=4" % uid, "gravatar_id": "",
        "url": base, "html_url": "https://github.com/" + login, "followers_url": base + "/followers",
        "following_url": base + "/following{/other_user}", "gists_url": base + "/gists{/gist_id}",
        "starred_url": base + "/starred{/owner}{/repo}", "subscriptions_url": base + "/subscriptions",
        "organizations_url": base + "/orgs", "repos_url": base + "/repos",
        "events_url": base + "/events{/privacy}", "received_events_url": base + "/received_events",
        "type": "User", "site_admin": False,
    }


def user_by_id(uid):
    for login, i in STATE["users"].items():
        if i == uid:
            return login
    return None


def environment_json(env):
    """The documented "Environment" shape from the fake's own record."""
    rules = []
    if env.get("wait_timer"):
        rules.append({"id": env["id"] * 10 + 1, "node_id": "GATE%d1" % env["id"], "type": "wait_timer",
                      "wait_timer": env["wait_timer"]})
    if env.get("reviewers"):
        reviewers = []
        for r in env["reviewers"]:
            login = user_by_id(r["id"])
            reviewers.append({"type": r["type"], "reviewer": user_json(login, r["id"]) if login else {"id": r["id"]}})
        rules.append({"id": env["id"] * 10 + 2, "node_id": "GATE%d2" % env["id"], "type": "required_reviewers",
                      "prevent_self_review": bool(env.get("prevent_self_review")), "reviewers": reviewers})
    if env.get("deployment_branch_policy"):
        rules.append({"id": env["id"] * 10 + 3, "node_id": "GATE%d3" % env["id"], "type": "branch_policy"})
    return {
        "id": env["id"], "node_id": "ENV%d" % env["id"], "name": env["name"],
        "url": "%s/repos/%s/environments/%s" % (api_base(), ARGS.repository, env["name"]),
        "html_url": "https://github.com/%s/deployments/activity_log?environments_filter=%s" % (
            ARGS.repository, env["name"]),
        "created_at": env["created_at"], "updated_at": env["updated_at"],
        "protection_rules": rules, "deployment_branch_policy": env.get("deployment_branch_policy"),
    }


def api_base():
    return "http://127.0.0.1:%d" % PORTS["api"]


def release_json(rel):
    out = dict(rel)
    out["url"] = "%s/repos/%s/releases/%d" % (api_base(), ARGS.repository, rel["id"])
    out["upload_url"] = "http://127.0.0.1:%d/repos/%s/releases/%d/assets{?name,label}" % (
        PORTS["uploads"], ARGS.repository, rel["id"])
    out["assets"] = [asset_json(a) for a in STATE["assets"].values() if a["release_id"] == rel["id"]]
    return out


def asset_json(a):
    # A failed upload leaves a "starter" asset that holds the name (GitHub's
    # "Upload a release asset" docs): no content, no digest, delete it first.
    uploaded = a.get("state", "uploaded") == "uploaded"
    return {
        "id": a["id"], "name": a["name"], "label": a.get("label") or "", "size": len(a["data"]),
        "content_type": a["content_type"], "state": a.get("state", "uploaded"),
        "digest": "sha256:" + hashlib.sha256(a["data"]).hexdigest() if uploaded and not STATE["no_digest"] else None,
        "browser_download_url": "%s/download/%d/%s" % (api_base(), a["id"], a["name"]),
        "url": "%s/repos/%s/releases/assets/%d" % (api_base(), ARGS.repository, a["id"]),
    }


# -- workflow runs ------------------------------------------------------------------
# A run's progress is a position in the list of all its steps: before it the
# steps are completed, at it one is in progress (see the docstring).

def stamp(base, seconds):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(base + seconds))


def add_run(spec):
    with_ids = {"id": STATE["next_id"], "run_number": len(STATE["runs"]) + 1, "pos": -1,
                "created": int(time.time()), "hidden_polls": int(spec.get("hidden_polls", 0)),
                "head_sha": spec["head_sha"], "head_branch": spec.get("head_branch"),
                "event": spec.get("event", "push"), "path": spec.get("path", ".github/workflows/release.yml"),
                "name": spec.get("name", "Release to CodeArtifact"), "jobs": []}
    STATE["next_id"] += 1
    for j in spec.get("jobs") or [{"name": "release", "steps": [{"name": "Set up job"}]}]:
        with_ids["jobs"].append({"id": STATE["next_id"], "name": j["name"], "log": j.get("log", ""),
                                 "steps": [dict(st) for st in j["steps"]]})
        STATE["next_id"] += 1
    STATE["runs"].append(with_ids)
    return {"id": with_ids["id"], "jobs": [j["id"] for j in with_ids["jobs"]]}


def flat_steps(run):
    return [(job, st) for job in run["jobs"] for st in job["steps"]]


def step_states(run):
    """{id(step): (status, conclusion)} at the run's position."""
    flat = flat_steps(run)
    pos = run["pos"]
    failed = None
    for k, (_, st) in enumerate(flat):
        if k < pos and st.get("fail"):
            failed = k
            break
    out = {}
    for k, (_, st) in enumerate(flat):
        if failed is not None and k > failed:
            out[id(st)] = ("completed", "skipped")
        elif k < pos or (failed is not None and k == failed):
            out[id(st)] = ("completed", "failure" if st.get("fail") else "success")
        elif k == pos:
            out[id(st)] = ("in_progress", None)
        else:
            out[id(st)] = ("queued", None)
    return out


def job_status(job, states):
    seen = [states[id(st)] for st in job["steps"]]
    if all(s == "completed" for s, _ in seen):
        conclusions = [c for _, c in seen]
        if "failure" in conclusions:
            return "completed", "failure"
        if all(c == "skipped" for c in conclusions):
            return "completed", "skipped"
        return "completed", "success"
    if any(s != "queued" for s, _ in seen):
        return "in_progress", None
    return "queued", None


def run_status(run):
    if run["pos"] < 0:
        return "queued", None
    states = step_states(run)
    jobs = [job_status(j, states) for j in run["jobs"]]
    if all(s == "completed" for s, _ in jobs):
        return "completed", "failure" if any(c == "failure" for _, c in jobs) else "success"
    return "in_progress", None


def repo_json():
    owner, name = ARGS.repository.split("/")
    return {"id": 123456, "node_id": "R_123456", "name": name, "full_name": ARGS.repository,
            "owner": user_json(owner, 3), "private": True, "html_url": "https://github.com/" + ARGS.repository,
            "url": "%s/repos/%s" % (api_base(), ARGS.repository), "fork": False, "description": None}


def run_json(run):
    status, conclusion = run_status(run)
    base = "%s/repos/%s/actions/runs/%d" % (api_base(), ARGS.repository, run["id"])
    actor = user_json("octocat", 1)
    return {
        "id": run["id"], "name": run["name"], "node_id": "WFR_%d" % run["id"], "check_suite_id": run["id"] + 7,
        "check_suite_node_id": "CS_%d" % run["id"], "head_branch": run["head_branch"], "head_sha": run["head_sha"],
        "path": run["path"], "display_title": run["head_branch"] or run["name"], "run_number": run["run_number"],
        "event": run["event"], "status": status, "conclusion": conclusion, "workflow_id": 159038,
        "url": base, "html_url": "https://github.com/%s/actions/runs/%d" % (ARGS.repository, run["id"]),
        "pull_requests": [], "created_at": stamp(run["created"], 0), "updated_at": stamp(run["created"], 1),
        "actor": actor, "run_attempt": 1, "run_started_at": stamp(run["created"], 0), "triggering_actor": actor,
        "jobs_url": base + "/jobs", "logs_url": base + "/logs",
        "check_suite_url": "%s/repos/%s/check-suites/%d" % (api_base(), ARGS.repository, run["id"] + 7),
        "artifacts_url": base + "/artifacts", "cancel_url": base + "/cancel", "rerun_url": base + "/rerun",
        "workflow_url": "%s/repos/%s/actions/workflows/159038" % (api_base(), ARGS.repository),
        "head_commit": {"id": run["head_sha"], "tree_id": "0" * 40, "message": "release",
                        "timestamp": stamp(run["created"], 0),
                        "author": {"name": "Octo Cat", "email": "octocat@github.com"},
                        "committer": {"name": "GitHub", "email": "noreply@github.com"}},
        "repository": repo_json(), "head_repository": repo_json(),
    }


def job_json(run, job, states):
    status, conclusion = job_status(job, states)
    steps = []
    for n, st in enumerate(job["steps"], 1):
        s, c = states[id(st)]
        steps.append({"name": st["name"], "status": s, "conclusion": c, "number": n,
                      "started_at": stamp(run["created"], n) if s != "queued" else None,
                      "completed_at": stamp(run["created"], n + 1) if s == "completed" else None})
    return {
        "id": job["id"], "run_id": run["id"],
        "run_url": "%s/repos/%s/actions/runs/%d" % (api_base(), ARGS.repository, run["id"]),
        "node_id": "CR_%d" % job["id"], "head_sha": run["head_sha"],
        "url": "%s/repos/%s/actions/jobs/%d" % (api_base(), ARGS.repository, job["id"]),
        "html_url": "https://github.com/%s/actions/runs/%d/job/%d" % (ARGS.repository, run["id"], job["id"]),
        "status": status, "conclusion": conclusion, "created_at": stamp(run["created"], 0),
        "started_at": stamp(run["created"], 1), "completed_at": stamp(run["created"], 99) if status == "completed" else None,
        "name": job["name"], "steps": steps,
        "check_run_url": "%s/repos/%s/check-runs/%d" % (api_base(), ARGS.repository, job["id"]),
        "labels": ["ubuntu-latest"], "runner_id": 1, "runner_name": "GitHub Actions 1", "runner_group_id": 2,
        "runner_group_name": "GitHub Actions", "workflow_name": run["name"], "head_branch": run["head_branch"],
        "run_attempt": 1,
    }


def job_log(run, job):
    """The job's log as GitHub writes it: a timestamp on every line, a group per step."""
    states = step_states(run)
    lines = []
    for n, st in enumerate(job["steps"], 1):
        s, c = states[id(st)]
        if s == "queued" or c == "skipped":
            continue
        lines.append("##[group]Run " + st["name"])
        lines.append("##[endgroup]")
        lines.extend((st.get("log") or "").splitlines())
        if c == "failure":
            lines.extend(job["log"].splitlines())
            lines.append("##[error]Process completed with exit code 1.")
    return "".join("%s.%07dZ %s\n" % (stamp(run["created"], 0)[:-1], i, l) for i, l in enumerate(lines))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "github-fake"

    def log_message(self, fmt, *args):
        pass

    # -- plumbing -----------------------------------------------------------
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send(self, status, obj=None, headers=None, raw=None, ctype="application/json; charset=utf-8"):
        data = raw if raw is not None else (b"" if obj is None else json.dumps(obj).encode())
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Request-Id", "FAKE:%d" % time.time_ns())
        headers = dict({"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999"}, **(headers or {}))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def error(self, status, message, errors=None):
        obj = {"message": message, "documentation_url": "https://docs.github.com/rest"}
        if errors:
            obj["errors"] = errors
        self.send(status, obj)

    def authorized(self):
        auth = self.headers.get("Authorization", "")
        m = re.match(r"^(?:Bearer|token) (.+)$", auth)
        return bool(m) and m.group(1) == ARGS.token

    def fault(self):
        with LOCK:
            if not FAULTS or FAULTS[0].get("server", self.server.role) != self.server.role:
                return False
            # a fault may aim at some requests only: "path" is a regex on the URL path
            if "path" in FAULTS[0] and not re.search(FAULTS[0]["path"], urlparse(self.path).path):
                return False
            f = FAULTS[0]
            if f.get("after", 0) > 0:
                f["after"] -= 1
                return False
            f["count"] = f.get("count", 1) - 1
            if f["count"] <= 0:
                FAULTS.pop(0)
        if f.get("starter") and self.server.role == "uploads":
            self.leave_starter()
        headers = {}
        if f.get("rate_limited"):
            headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + f.get("reset_in", 1))}
        if "retry_after" in f:
            headers["retry-after"] = str(f["retry_after"])
        self.body()
        msg = "API rate limit exceeded" if f.get("rate_limited") or f["status"] == 429 else "Server Error"
        if f["status"] == 401:
            msg = "Bad credentials"
        self.send(f["status"], {"message": msg}, headers)
        return True

    def leave_starter(self):
        """The asset record a failed upload leaves behind, as GitHub does on a 502."""
        url = urlparse(self.path)
        m = re.fullmatch(r"/repos/%s/releases/(\d+)/assets" % re.escape(ARGS.repository), url.path)
        name = parse_qs(url.query).get("name", [None])[0]
        if not m or not name:
            return
        with LOCK:
            aid = STATE["next_id"]
            STATE["next_id"] += 1
            STATE["assets"][aid] = {"id": aid, "release_id": int(m.group(1)), "name": name, "label": "",
                                    "data": b"", "state": "starter",
                                    "content_type": self.headers.get("Content-Type", "application/octet-stream")}

    def page(self, items, query):
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            path = urlparse(self.path).path
            headers["Link"] = '<%s%s?per_page=%d&page=%d>; rel="next"' % (api_base(), path, per_page, page + 1)
        return chunk, headers

    # -- routing -------------------------------------------------------------
    def route(self, method):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        path = url.path
        if path.startswith("/__"):
            return self.control(method, path)
        if path == "/oidc/jwks":
            return self.send(200, jwks())
        if path == "/oidc/token":
            return self.oidc(query)
        if path.startswith("/download/"):
            return self.download(path)
        if path.startswith("/logs/"):
            return self.log_download(path)
        with LOCK:
            STATE["requests"].append({"method": method, "path": path,
                                      "server": self.server.role})
        if self.fault():
            return
        if not self.authorized():
            self.body()
            return self.error(401, "Bad credentials")
        if self.server.role == "uploads":
            return self.upload(method, path, query)
        repo = re.escape(ARGS.repository)
        routes = [
            ("GET", r"/repos/%s" % repo, self.repository),
            ("GET", r"/repos/%s/commits/([^/]+)/status" % repo, self.combined_status),
            ("GET", r"/repos/%s/commits/([^/]+)/check-runs" % repo, self.check_runs),
            ("GET", r"/repos/%s/releases/tags/(.+)" % repo, self.release_by_tag),
            ("GET", r"/repos/%s/releases" % repo, self.list_releases),
            ("POST", r"/repos/%s/releases" % repo, self.create_release),
            ("GET", r"/repos/%s/releases/(\d+)" % repo, self.get_release),
            ("PATCH", r"/repos/%s/releases/(\d+)" % repo, self.update_release),
            ("DELETE", r"/repos/%s/releases/(\d+)" % repo, self.delete_release),
            ("GET", r"/repos/%s/releases/(\d+)/assets" % repo, self.list_assets),
            ("GET", r"/repos/%s/releases/assets/(\d+)" % repo, self.get_asset),
            ("DELETE", r"/repos/%s/releases/assets/(\d+)" % repo, self.delete_asset),
            ("GET", r"/repos/%s/environments/([^/]+)" % repo, self.get_environment),
            ("PUT", r"/repos/%s/environments/([^/]+)" % repo, self.put_environment),
            ("GET", r"/repos/%s/environments/([^/]+)/deployment-branch-policies" % repo, self.list_branch_policies),
            ("POST", r"/repos/%s/environments/([^/]+)/deployment-branch-policies" % repo, self.add_branch_policy),
            ("GET", r"/repos/%s/actions/secrets/public-key" % repo, self.secrets_public_key),
            ("GET", r"/repos/%s/actions/secrets" % repo, self.list_secrets),
            ("GET", r"/repos/%s/actions/secrets/([A-Za-z0-9_]+)" % repo, self.get_secret),
            ("PUT", r"/repos/%s/actions/secrets/([A-Za-z0-9_]+)" % repo, self.put_secret),
            ("GET", r"/repos/%s/actions/variables" % repo, self.list_variables),
            ("POST", r"/repos/%s/actions/variables" % repo, self.create_variable),
            ("GET", r"/repos/%s/actions/variables/([A-Za-z0-9_]+)" % repo, self.get_variable),
            ("PATCH", r"/repos/%s/actions/variables/([A-Za-z0-9_]+)" % repo, self.update_variable),
            ("DELETE", r"/repos/%s/actions/variables/([A-Za-z0-9_]+)" % repo, self.delete_variable),
            ("GET", r"/users/([^/]+)", self.get_user),
            ("GET", r"/repos/%s/actions/runs" % repo, self.list_runs),
            ("GET", r"/repos/%s/actions/runs/(\d+)" % repo, self.get_run),
            ("GET", r"/repos/%s/actions/runs/(\d+)/jobs" % repo, self.list_jobs),
            ("GET", r"/repos/%s/actions/runs/(\d+)/logs" % repo, self.run_logs),
            ("GET", r"/repos/%s/actions/jobs/(\d+)/logs" % repo, self.job_logs),
        ]
        for m, pattern, fn in routes:
            match = re.fullmatch(pattern, path)
            if match and m == method:
                return fn(query, *match.groups())
        self.body()
        self.error(404, "Not Found")

    def do_GET(self):
        self.route("GET")

    def do_POST(self):
        self.route("POST")

    def do_PATCH(self):
        self.route("PATCH")

    def do_PUT(self):
        self.route("PUT")

    def do_DELETE(self):
        self.route("DELETE")

    # -- control and OIDC ------------------------------------------------------
    def control(self, method, path):
        data = self.body()
        with LOCK:
            if path == "/__state" and method == "POST":
                for k, v in json.loads(data or b"{}").items():
                    STATE[k] = v
                return self.send(200, {"ok": True})
            if path == "/__state":
                out = {k: v for k, v in STATE.items() if k != "assets"}
                out["assets"] = [asset_json(a) for a in STATE["assets"].values()]
                return self.send(200, out)
            if path == "/__fault":
                FAULTS.append(json.loads(data))
                return self.send(200, {"ok": True})
            if path == "/__run" and method == "POST":
                return self.send(200, add_run(json.loads(data)))
        self.error(404, "Not Found")

    def oidc(self, query):
        auth = self.headers.get("Authorization", "")
        if auth != "Bearer " + ARGS.request_token:
            return self.error(401, "invalid request token")
        audience = query.get("audience", ["https://github.com/" + ARGS.repository.split("/")[0]])[0]
        jwt = make_jwt(audience)
        with LOCK:
            STATE["oidc_issued"].append(jwt)   # so a test can look for it in relrun's output
        self.send(200, {"count": 1, "value": jwt})

    def download(self, path):
        with LOCK:
            STATE["download_auth"].append(self.headers.get("Authorization", "-"))
        m = re.fullmatch(r"/download/(\d+)/(.+)", path)
        a = STATE["assets"].get(int(m.group(1))) if m else None
        if not a:
            return self.error(404, "Not Found")
        self.send(200, raw=a["data"], ctype="application/octet-stream")

    # -- workflow runs ------------------------------------------------------------------
    def find_run(self, rid):
        for run in STATE["runs"]:
            if run["id"] == int(rid):
                return run
        return None

    def list_runs(self, query):
        def wanted(run):
            for key in ("head_sha", "event", "status"):
                if key in query and query[key][0] != (run_status(run)[0] if key == "status" else run[key]):
                    return False
            return "branch" not in query or query["branch"][0] == run["head_branch"]
        with LOCK:
            listed = []
            for run in STATE["runs"]:
                if not wanted(run):
                    continue
                if run["hidden_polls"] > 0:
                    run["hidden_polls"] -= 1
                    continue
                listed.append(run_json(run))
        listed.reverse()   # newest first, as GitHub lists them
        chunk, headers = self.page(listed, query)
        self.send(200, {"total_count": len(listed), "workflow_runs": chunk}, headers)

    def get_run(self, query, rid):
        run = self.find_run(rid)
        if not run:
            return self.error(404, "Not Found")
        self.send(200, run_json(run))

    def list_jobs(self, query, rid):
        with LOCK:
            run = self.find_run(rid)
            if not run:
                return self.error(404, "Not Found")
            if run_status(run)[0] != "completed":
                run["pos"] += 1
            states = step_states(run)
            jobs = [job_json(run, j, states) for j in run["jobs"]]
        chunk, headers = self.page(jobs, query)
        self.send(200, {"total_count": len(jobs), "jobs": chunk}, headers)

    def find_job(self, jid):
        for run in STATE["runs"]:
            for job in run["jobs"]:
                if job["id"] == int(jid):
                    return run, job
        return None, None

    def job_logs(self, query, jid):
        run, job = self.find_job(jid)
        if not job:
            return self.error(404, "Not Found")
        # GitHub answers with a short-lived URL on its log storage, another host
        self.send(302, headers={"Location": "http://localhost:%d/logs/job/%d" % (PORTS["uploads"], job["id"])})

    def run_logs(self, query, rid):
        if not self.find_run(rid):
            return self.error(404, "Not Found")
        self.send(302, headers={"Location": "http://localhost:%d/logs/run/%s" % (PORTS["uploads"], rid)})

    def log_download(self, path):
        with LOCK:
            STATE["download_auth"].append(self.headers.get("Authorization", "-"))
        m = re.fullmatch(r"/logs/(job|run)/(\d+)", path)
        if m and m.group(1) == "job":
            run, job = self.find_job(m.group(2))
            if job:
                return self.send(200, raw=job_log(run, job).encode(), ctype="text/plain")
        elif m:
            run = self.find_run(m.group(2))
            if run:
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w") as z:
                    for n, job in enumerate(run["jobs"]):
                        z.writestr("%d_%s.txt" % (n, job["name"]), job_log(run, job))
                return self.send(200, raw=buf.getvalue(), ctype="application/zip")
        self.error(404, "Not Found")

    # -- statuses --------------------------------------------------------------
    def combined_status(self, query, ref):
        statuses = STATE["statuses"].get(ref, [])
        states = [s["state"] for s in statuses]
        if any(s in ("failure", "error") for s in states):
            state = "failure"
        elif not states or any(s == "pending" for s in states):
            state = "pending"
        else:
            state = "success"
        chunk, headers = self.page(statuses, query)
        self.send(200, {"state": state, "sha": ref, "total_count": len(statuses), "statuses": chunk}, headers)

    def check_runs(self, query, ref):
        runs = STATE["check_runs"].get(ref, [])
        chunk, headers = self.page(runs, query)
        self.send(200, {"total_count": len(runs), "check_runs": chunk}, headers)

    # -- releases ----------------------------------------------------------------
    def find_release(self, rid):
        for rel in STATE["releases"]:
            if rel["id"] == int(rid):
                return rel
        return None

    def release_by_tag(self, query, tag):
        for rel in STATE["releases"]:
            if rel["tag_name"] == tag and not rel["draft"]:
                return self.send(200, release_json(rel))
        self.error(404, "Not Found")

    def list_releases(self, query):
        chunk, headers = self.page([release_json(r) for r in reversed(STATE["releases"])], query)
        self.send(200, chunk, headers)

    def get_release(self, query, rid):
        rel = self.find_release(rid)
        if not rel:
            return self.error(404, "Not Found")
        self.send(200, release_json(rel))

    def create_release(self, query):
        try:
            data = json.loads(self.body())
        except ValueError:
            return self.error(400, "Problems parsing JSON")
        if not data.get("tag_name"):
            return self.error(422, "Validation Failed",
                              [{"resource": "Release", "code": "missing_field", "field": "tag_name"}])
        with LOCK:
            if any(r["tag_name"] == data["tag_name"] for r in STATE["releases"]):
                return self.error(422, "Validation Failed",
                                  [{"resource": "Release", "code": "already_exists", "field": "tag_name"}])
            rel = {"id": STATE["next_id"], "tag_name": data["tag_name"],
                   "name": data.get("name") or data["tag_name"], "body": data.get("body") or "",
                   "draft": bool(data.get("draft")), "prerelease": bool(data.get("prerelease")),
                   "target_commitish": data.get("target_commitish") or "main",
                   "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            STATE["next_id"] += 1
            STATE["releases"].append(rel)
        self.send(201, release_json(rel))

    def update_release(self, query, rid):
        data = json.loads(self.body() or b"{}")
        with LOCK:
            rel = self.find_release(rid)
            if not rel:
                return self.error(404, "Not Found")
            for k in ("name", "body", "draft", "prerelease", "tag_name"):
                if k in data:
                    rel[k] = data[k]
        self.send(200, release_json(rel))

    def delete_release(self, query, rid):
        self.body()
        with LOCK:
            rel = self.find_release(rid)
            if not rel:
                return self.error(404, "Not Found")
            STATE["releases"].remove(rel)
            for aid in [a for a, v in STATE["assets"].items() if v["release_id"] == rel["id"]]:
                del STATE["assets"][aid]
        self.send(204)

    def list_assets(self, query, rid):
        if not self.find_release(rid):
            return self.error(404, "Not Found")
        assets = [asset_json(a) for a in STATE["assets"].values() if a["release_id"] == int(rid)]
        chunk, headers = self.page(assets, query)
        self.send(200, chunk, headers)

    def get_asset(self, query, aid):
        a = STATE["assets"].get(int(aid))
        if not a:
            return self.error(404, "Not Found")
        if self.headers.get("Accept") != "application/octet-stream":
            return self.send(200, asset_json(a))
        where = "http://localhost:%d/download/%d/%s" % (PORTS["uploads"], a["id"], a["name"])
        self.send(302, headers={"Location": where})

    def delete_asset(self, query, aid):
        self.body()
        with LOCK:
            if int(aid) not in STATE["assets"]:
                return self.error(404, "Not Found")
            del STATE["assets"][int(aid)]
        self.send(204)

    def upload(self, method, path, query):
        # GitHub creates the asset record ("starter") when an upload begins
        # and completes it when the last byte arrives: a client killed
        # mid-upload leaves the starter holding the name, whatever it does
        # next (a rerun that lists the assets at once already sees it).
        m = re.fullmatch(r"/repos/%s/releases/(\d+)/assets" % re.escape(ARGS.repository), path)
        if method != "POST" or not m:
            self.body()
            return self.error(404, "Not Found")
        name = query.get("name", [None])[0]
        if not name:
            self.body()
            return self.error(422, "Validation Failed", [{"resource": "ReleaseAsset", "code": "missing_field",
                                                          "field": "name"}])
        with LOCK:
            if not self.find_release(m.group(1)):
                aid = None
            elif any(a["release_id"] == int(m.group(1)) and a["name"] == name for a in STATE["assets"].values()):
                aid = 0
            else:
                aid = STATE["next_id"]
                STATE["next_id"] += 1
                STATE["assets"][aid] = {"id": aid, "release_id": int(m.group(1)), "name": name,
                                        "label": query.get("label", [""])[0], "data": b"", "state": "starter",
                                        "content_type": self.headers.get("Content-Type", "application/octet-stream")}
        data = self.body()
        if aid is None:
            return self.error(404, "Not Found")
        if aid == 0:
            return self.error(422, "Validation Failed",
                              [{"resource": "ReleaseAsset", "code": "already_exists", "field": "name"}])
        if len(data) < int(self.headers.get("Content-Length") or 0):
            return None   # the client went away: the starter stays
        with LOCK:
            a = STATE["assets"].get(aid)
            if a is None:   # deleted while it was being uploaded
                return self.error(404, "Not Found")
            a["data"] = data
            a.pop("state", None)
            out = asset_json(a)
        self.send(201, out)

    # -- the repository ---------------------------------------------------------------
    def repository(self, query):
        # GET /repos/{owner}/{repo}: the fields relrun reads; `permissions`
        # as GitHub gives them to the token's holder ("read_only" in the
        # state makes push false, as a read-only token sees it)
        owner, name = ARGS.repository.split("/")
        push = not STATE.get("read_only")
        self.send(200, {"id": 123456, "name": name, "full_name": ARGS.repository, "owner": {"login": owner},
                        "private": True, "default_branch": "main",
                        "permissions": {"admin": False, "maintain": False, "push": push, "triage": True,
                                        "pull": True}})

    # -- environments ---------------------------------------------------------------
    def get_environment(self, query, name):
        env = STATE["environments"].get(name)
        if not env:
            return self.error(404, "Not Found")
        self.send(200, environment_json(env))

    def put_environment(self, query, name):
        data = json.loads(self.body() or b"{}")
        reviewers = data.get("reviewers") or []
        for r in reviewers:
            if r.get("type") == "User" and user_by_id(r.get("id")) is None:
                return self.error(422, "Validation Failed",
                                  [{"resource": "Environment", "code": "invalid", "field": "reviewers",
                                    "message": "reviewer %s is not a user" % r.get("id")}])
        policy = data.get("deployment_branch_policy")
        with LOCK:
            env = STATE["environments"].get(name)
            if not env:
                env = {"id": STATE["next_id"], "name": name, "created_at": now()}
                STATE["next_id"] += 1
                STATE["environments"][name] = env
            env["updated_at"] = now()
            env["reviewers"] = [{"type": r.get("type"), "id": r.get("id")} for r in reviewers]
            env["wait_timer"] = data.get("wait_timer") or 0
            env["prevent_self_review"] = bool(data.get("prevent_self_review"))
            env["deployment_branch_policy"] = policy
            # Name-pattern rules live only while the environment uses custom policies.
            if not (policy or {}).get("custom_branch_policies"):
                env.pop("branch_policies", None)
            out = environment_json(env)
        self.send(200, out)

    def list_branch_policies(self, query, name):
        env = STATE["environments"].get(name)
        if not env:
            return self.error(404, "Not Found")
        rules = env.get("branch_policies", [])
        self.send(200, {"total_count": len(rules), "branch_policies": rules})

    def add_branch_policy(self, query, name):
        data = json.loads(self.body() or b"{}")
        with LOCK:
            env = STATE["environments"].get(name)
            policy = env and env.get("deployment_branch_policy") or {}
            # GitHub refuses rules unless the environment uses custom policies.
            if not policy.get("custom_branch_policies"):
                return self.error(404, "Not Found")
            # "303: Response if the same branch name pattern already exists" (GitHub's docs)
            for r in env.get("branch_policies", []):
                if r["name"] == data.get("name") and r["type"] == data.get("type", "branch"):
                    return self.send(303, None, {"Location": "%s/repos/%s/environments/%s/deployment-branch-policies/%d" % (
                        api_base(), ARGS.repository, name, r["id"])})
            rule = {"id": STATE["next_id"], "node_id": "POLICY%d" % STATE["next_id"], "name": data.get("name"),
                    "type": data.get("type", "branch")}
            STATE["next_id"] += 1
            env.setdefault("branch_policies", []).append(rule)
        self.send(200, rule)

    # -- Actions secrets and variables --------------------------------------------------
    def secrets_public_key(self, query):
        key = base64.b64encode(bytes(secrets_key().public_key)).decode()
        self.send(200, {"key_id": key_id(), "key": key})

    def secret_json(self, name):
        s = STATE["secrets"][name]
        return {"name": name, "created_at": s["created_at"], "updated_at": s["updated_at"]}

    def list_secrets(self, query):
        names = sorted(STATE["secrets"])
        self.send(200, {"total_count": len(names), "secrets": [self.secret_json(n) for n in names]})

    def get_secret(self, query, name):
        if name not in STATE["secrets"]:
            return self.error(404, "Not Found")
        self.send(200, self.secret_json(name))

    def put_secret(self, query, name):
        data = json.loads(self.body() or b"{}")
        from nacl.exceptions import CryptoError
        from nacl.public import SealedBox
        if data.get("key_id") != key_id():
            return self.error(422, "Validation Failed", [{"resource": "Secret", "code": "invalid", "field": "key_id"}])
        try:
            value = SealedBox(secrets_key()).decrypt(base64.b64decode(data.get("encrypted_value") or "",
                                                                      validate=True)).decode()
        except (CryptoError, ValueError, UnicodeDecodeError):
            return self.error(422, "Bad request - encrypted_value is not a sealed box for this key")
        with LOCK:
            old = STATE["secrets"].get(name)
            STATE["secrets"][name] = {"value": value, "key_id": data["key_id"],
                                      "created_at": old["created_at"] if old else now(), "updated_at": now()}
        if old:
            return self.send(204)
        self.send(201, {})

    def list_variables(self, query):
        names = sorted(STATE["variables"])
        chunk, headers = self.page([STATE["variables"][n] for n in names], query)
        self.send(200, {"total_count": len(names), "variables": chunk}, headers)

    def create_variable(self, query):
        data = json.loads(self.body() or b"{}")
        name, value = data.get("name"), data.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            return self.error(422, "Validation Failed",
                              [{"resource": "Variable", "code": "missing_field", "field": "name" if not name else "value"}])
        with LOCK:
            if name in STATE["variables"]:
                return self.error(409, "Already exists - Variable already exists")
            STATE["variables"][name] = {"name": name, "value": value, "created_at": now(), "updated_at": now()}
        self.send(201, {})

    def get_variable(self, query, name):
        if name not in STATE["variables"]:
            return self.error(404, "Not Found")
        self.send(200, STATE["variables"][name])

    def update_variable(self, query, name):
        data = json.loads(self.body() or b"{}")
        with LOCK:
            var = STATE["variables"].get(name)
            if not var:
                return self.error(404, "Not Found")
            if "value" in data:
                var["value"] = data["value"]
            if data.get("name") and data["name"] != name:
                del STATE["variables"][name]
                var["name"] = data["name"]
                STATE["variables"][data["name"]] = var
            var["updated_at"] = now()
        self.send(204)

    def delete_variable(self, query, name):
        self.body()
        with LOCK:
            if STATE["variables"].pop(name, None) is None:
                return self.error(404, "Not Found")
        self.send(204)

    def get_user(self, query, login):
        uid = STATE["users"].get(login)
        if uid is None:
            # GitHub logins are case-insensitive
            for name, i in STATE["users"].items():
                if name.lower() == login.lower():
                    login, uid = name, i
        if uid is None:
            return self.error(404, "Not Found")
        out = user_json(login, uid)
        out.update({"name": None, "company": None, "blog": "", "location": None, "email": None,
                    "hireable": None, "bio": None, "public_repos": 0, "public_gists": 0,
                    "followers": 0, "following": 0, "created_at": "2008-01-14T04:33:35Z",
                    "updated_at": "2008-01-14T04:33:35Z"})
        self.send(200, out)


def serve(role, port):
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.role = role
    server.daemon_threads = True
    PORTS[role] = server.server_address[1]
    return server


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--token", default="ghs_testtoken0123456789")
    p.add_argument("--request-token", default="actions-request-token-0123456789")
    p.add_argument("--repository", default="acme/stock-pipeline")
    p.add_argument("--ref-name", default="v1.0.0")
    ARGS = p.parse_args()
    api = serve("api", 0)
    uploads = serve("uploads", 0)
    threading.Thread(target=uploads.serve_forever, daemon=True).start()
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write("%d\n" % PORTS["api"])
    with open(ARGS.port_file + ".uploads", "w") as f:
        f.write("%d\n" % PORTS["uploads"])
    import os
    os.replace(ARGS.port_file + ".tmp", ARGS.port_file)
    api.serve_forever()


if __name__ == "__main__":
    main()
