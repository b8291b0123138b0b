-- RELEASE.md "Security Considerations" as checks: no credentials in the
-- repository or its history, OIDC rather than long-term keys, the workflow's
-- shape, and the production environment's protection.
local checks = require "relrun.checks"
local proc = require "relrun.proc"
local host = require "relrun.host"
local policy = require "relrun.policy"
local aws = require "relrun.doctor.aws"
local jobs = require "relrun.doctor.jobs"
local workflows = require "relrun.workflows"

local M = {}
local concerns_relrun

local UPPER16 = string.rep("[0-9A-Z]", 16)
local BASE64_40 = string.rep("[%w/+]", 40)

-- What a committed credential looks like: { kind, pattern (one capture) }.
M.PATTERNS = {
  { kind = "AWS access key id", pattern = "%f[%w](A[KS]IA" .. UPPER16 .. ")%f[^%w]" },
  { kind = "AWS secret access key",
    pattern = "[Ss][Ee][Cc][Rr][Ee][Tt][_%w]*[\"']?%s*[=:]%s*[\"']?(" .. BASE64_40 .. ")%f[^%w/+]" },
  { kind = "GitHub token", pattern = "%f[%w](gh[pousr]_" .. string.rep("%w", 36) .. "%w*)" },
  { kind = "GitHub token", pattern = "%f[%w](github_pat_[%w_]+)" },
  { kind = "private key", pattern = "(%-%-%-%-%-BEGIN [A-Z ]*PRIVATE KEY%-%-%-%-%-)" },
}

-- The lines of `git log -p` the scan reads (a POSIX extended regex for
-- grep): commit and file lines, and added lines holding what M.PATTERNS
-- match, spelled as strictly as they are. A bare "secret" admitted every
-- version of pydantic's docs search index (SecretStr): 5.6 GB of lines for
-- Lua to read, four minutes; the whole pattern admits 5 MB.
M.PREFILTER = "^(commit [0-9a-f]{40}$|\\+\\+\\+ b/|\\+.*(A[KS]IA[0-9A-Z]{16}|" ..
  "[Ss][Ee][Cc][Rr][Ee][Tt][_A-Za-z0-9]*[\"']?[[:space:]]*[=:][[:space:]]*[\"']?[A-Za-z0-9/+]{40}|" ..
  "gh[pousr]_[A-Za-z0-9]{36}|github_pat_|-----BEGIN [A-Z ]*PRIVATE KEY))"

-- Documentation examples are not leaks.
local function is_example(value)
  return value:find("EXAMPLE", 1, true) ~= nil
end

-- An AWS secret key is 40 characters of base64: upper and lower case
-- letters both. One case alone is a hex digest or a framework's own key
-- (quart's example SECRET_KEY = "e9515dfe..."), not AWS's.
local function not_aws_secret(kind, value)
  return kind == "AWS secret access key" and not (value:find("%u") and value:find("%l"))
end

local function scan_text(text, found)
  for _, p in ipairs(M.PATTERNS) do
    for value in text:gmatch(p.pattern) do
      if not is_example(value) and not not_aws_secret(p.kind, value) then
        found[#found + 1] = { kind = p.kind, value = value }
      end
    end
  end
  return found
end

-- Where a credential could start in a line: what each pattern begins with.
local ANCHORS = { "A[KS]IA", "[Ss][Ee][Cc][Rr][Ee][Tt]", "gh[pousr]_", "github_pat_", "%-%-%-%-%-BEGIN" }
local WINDOW = 300   -- longer than any credential and the text around it that a pattern reads

-- Credentials in one line of text: list of { kind, value }. A long line
-- (a minified search index on a docs branch: 400 KB) is read only around
-- where a credential could start, else the patterns' backtracking takes minutes.
function M.scan_line(line)
  if #line <= 2 * WINDOW then return scan_text(line, {}) end
  local found, seen = {}, {}
  for _, anchor in ipairs(ANCHORS) do
    local from = 1
    while true do
      local at = line:find(anchor, from)
      if not at then break end
      for _, hit in ipairs(scan_text(line:sub(math.max(1, at - WINDOW), at + WINDOW), {})) do
        if not seen[hit.value] then seen[hit.value] = true; found[#found + 1] = hit end
      end
      from = at + 1
    end
  end
  return found
end

local function redacted(value)
  if value:find("^%-%-%-%-%-") then return value end
  host.secret(value)                -- never printed whole, anywhere, from now on
  return value:sub(1, 4) .. "…"
end

-- Every added line of every commit reachable from any ref, then the
-- uncommitted changes to tracked files. Returns findings
-- { kind, shown, file, commit (short) | nil }.
function M.scan_repository(dir)
  local findings, seen = {}, {}
  local commit, file, last_other
  local function on_line(line)
    local c = line:match("^commit (%x+)$")
    if c then commit = c; return end
    local f = line:match("^%+%+%+ b/(.+)$")
    if f then file = f; return end
    if line:sub(1, 1) ~= "+" then last_other = line end   -- git's complaint, if it fails
    if line:sub(1, 1) ~= "+" or line:sub(1, 3) == "+++" then return end
    for _, hit in ipairs(M.scan_line(line:sub(2))) do
      local key = hit.value .. "\0" .. (file or "")
      if not seen[key] then
        seen[key] = true
        findings[#findings + 1] = { kind = hit.kind, shown = redacted(hit.value), file = file, commit = commit }
      end
    end
  end
  -- grep hands Lua only the commit and file lines and the candidate added
  -- lines (M.PREFILTER admits at least what M.PATTERNS match): pypa/hatch's
  -- 3,000 commits are 1.3 million diff lines, minutes when each reached
  -- Lua. pipefail keeps git's failure; grep's 1 is "no line matched".
  -- (sqlalchemy's 24,000 commits take ~20 s: progress shows the time passing)
  local r, err = require("relrun.progress").run{ what = "reading every commit's changes for credentials",
    -- core.quotepath=off: a path with non-ASCII letters is written as is,
    -- not quoted ("b/clé.pem" would not read as a file line)
    argv = { "bash", "-c", "set -o pipefail; git -c core.quotepath=off log -p --all --no-color --no-ext-diff " ..
    "--format='commit %H' --diff-filter=AM --no-renames | { grep -aE \"$1\" || [ $? = 1 ]; }", "scan", M.PREFILTER },
    cwd = dir, env = { LC_ALL = "C" }, keep = false,   -- read, never kept
    on_line = on_line }
  if not r then return nil, err end
  if r.code ~= 0 then return nil, "git log failed: " .. (last_other or "") end
  commit = nil
  proc.run{ argv = { "git", "diff", "HEAD", "--no-color", "--no-ext-diff" }, cwd = dir, stdout = on_line }
  return findings
end

local function commits_ago(dir, commit)
  local r = proc.run{ argv = { "git", "rev-list", "--count", commit .. "..HEAD" }, cwd = dir }
  return r and r.code == 0 and tonumber(r.stdout) or nil
end

-- Who, besides this repository's release tags, the trust policy admits:
-- probes for what a too-wide `sub` lets in.
local function trust_findings(trust, provider, repository, prefix)
  local probes = {
    { sub = "repo:" .. repository .. ":ref:refs/heads/main", what = "a branch push (refs/heads/main)" },
    { sub = "repo:" .. repository .. ":pull_request", what = "a pull request" },
    { sub = "repo:someone-else/fork:ref:refs/tags/" .. prefix .. "1.0.0", what = "another repository's tag" },
  }
  local findings = {}
  for _, p in ipairs(probes) do
    local r = policy.evaluate(trust, { action = "sts:AssumeRoleWithWebIdentity", principal = { Federated = provider },
      context = { [policy.OIDC_HOST .. ":sub"] = p.sub, [policy.OIDC_HOST .. ":aud"] = "sts.amazonaws.com" } })
    if r.decision == "allow" then
      findings[#findings + 1] = string.format("the trust policy admits %s (sub %s: %s)", p.what, p.sub, r.why)
    end
  end
  return findings
end

-- The actions RELEASE.md's permissions policy grants.
local function release_actions(docs)
  local allowed = {}
  for _, st in ipairs(docs.permissions.Statement) do
    for _, a in ipairs(type(st.Action) == "table" and st.Action or { st.Action }) do allowed[#allowed + 1] = a end
  end
  if not docs.arns.wheels then allowed[#allowed + 1] = "s3:PutObject"; allowed[#allowed + 1] = "s3:PutObjectAcl" end
  return allowed
end

local function policies_check(g, ctx)
  g:check("policies no wider than RELEASE.md's", function()
    if ctx.opts.offline then return checks.skip("--offline") end
    if not ctx.cfg.role_arn then return checks.skip("AWS_ROLE_ARN is not set") end
    local info, result = aws.role_or_result(ctx)
    if not info then return result end
    local docs = aws.expected(ctx)
    local provider = docs.oidc_provider_arn:gsub("::%d+:", "::" .. ctx.cfg.role_arn:match("::(%d+):") .. ":")
    local repository = aws.github_repository(ctx) or "OWNER/REPO"
    local wide_trust = trust_findings(info.trust, provider, repository, ctx.prefix)
    local wide = {}
    for _, doc in ipairs(info.permissions) do
      for _, f in ipairs(policy.wider_than(doc, release_actions(docs))) do
        wide[#wide + 1] = (doc.name or "policy") .. ": " .. f
      end
    end
    if #wide_trust > 0 then
      return checks.fail("role " .. info.name .. ": " .. table.concat(wide_trust, "; ") ..
        (#wide > 0 and ("; and " .. table.concat(wide, "; ")) or ""),
        "limit the trust policy's sub to repo:" .. repository .. ":ref:refs/tags/" .. ctx.prefix ..
        "* (relrun setup --update)")
    end
    if #wide > 0 then
      return checks.warn("role " .. info.name .. ": " .. table.concat(wide, "; "),
        "limit the role to RELEASE.md's actions and resources (relrun setup --update)")
    end
    return checks.ok(string.format("role %s: trust limited to %s's tags, %d permission polic%s within RELEASE.md's",
      info.name, repository, #info.permissions, #info.permissions == 1 and "y" or "ies"))
  end, "the role's trust and permission policies (IAM)")
end

-- The caller's static keys, read by `list` (the IAM calls named `calls`),
-- or the check's result when there are none to look at: offline, no
-- credentials, temporary ones, or IAM refusing. -> keys | nil, result.
local function static_keys(ctx, list, calls)
  if ctx.opts.offline then return nil, checks.skip("--offline") end
  local key, long_term = aws.access_key(ctx)
  if not key then return nil, checks.skip("no AWS credentials") end
  if not long_term then return nil, checks.ok("temporary credentials (no static key to review)") end
  local keys, err, code = list(ctx)
  if keys then return keys end
  if code == "AccessDenied" or code == "AccessDeniedException" then
    return nil, checks.skip(calls .. " is not permitted for these credentials")
  end
  return nil, checks.skip(calls .. ": " .. tostring(err))
end

local function access_keys_check(g, ctx)
  g:check("static access keys younger than 90 days", function()
    local keys, result = static_keys(ctx, aws.list_access_keys, "ListAccessKeys")
    if not keys then return result end
    local old = aws.old_keys(keys, os.time(), 90)
    if #old > 0 then
      local parts = {}
      for _, k in ipairs(old) do parts[#parts + 1] = string.format("%s… is %d days old", k.id:sub(1, 8), k.age_days) end
      return checks.warn(table.concat(parts, "; "),
        "rotate it (IAM → Users → Security credentials), or better, use OIDC and delete it (RELEASE.md, Security)")
    end
    local active = 0
    for _, k in ipairs(keys) do if k.status == "Active" then active = active + 1 end end
    return checks.ok(string.format("%d active key%s, none older than 90 days", active, active == 1 and "" or "s"))
  end, "IAM ListAccessKeys (the caller's keys)")
end

-- The caller's active keys, each with its last use (IAM GetAccessKeyLastUsed).
local function keys_with_use(ctx)
  local keys, err, code = aws.list_access_keys(ctx)
  if not keys then return nil, err, code end
  for _, k in ipairs(keys) do
    if k.status == "Active" then
      local used, uerr, ucode = aws.key_last_used(ctx, k.id)
      if not used then return nil, uerr, ucode end
      k.last_used = used
    end
  end
  return keys
end

local function days_ago(t, now)
  local d = math.floor((now - t) / 86400)
  return d == 0 and "today" or d == 1 and "yesterday" or (d .. " days ago")
end

-- RELEASE.md "Regularly rotate any static credentials": a long-term key
-- nobody uses is only a risk; one unused for 90 days should go.
local function key_use_check(g, ctx)
  g:check("static access keys in use", function()
    local keys, result = static_keys(ctx, keys_with_use, "ListAccessKeys or GetAccessKeyLastUsed")
    if not keys then return result end
    local now = os.time()
    local idle = aws.idle_keys(keys, now, 90)
    if #idle > 0 then
      local parts = {}
      for _, k in ipairs(idle) do
        parts[#parts + 1] = k.id:sub(1, 8) .. "… " .. (k.idle_days and ("unused for " .. k.idle_days .. " days")
          or "never used")
      end
      return checks.warn(table.concat(parts, "; "), "deactivate and delete it (IAM → Users → Security credentials)")
    end
    local parts = {}
    for _, k in ipairs(keys) do
      if k.last_used then
        parts[#parts + 1] = string.format("%s… last used %s (%s)", k.id:sub(1, 8), days_ago(k.last_used.date, now),
          tostring(k.last_used.service))
      end
    end
    return checks.ok(#parts > 0 and table.concat(parts, "; ") or "no active keys")
  end, "IAM ListAccessKeys and GetAccessKeyLastUsed (the caller's keys)")
end

-- What differs between the role's policies and what setup.lua writes (its
-- own documents, relrun.phases.setup: one source of truth): the trust, the
-- inline policy relrun-release, and any other policy on the role.
local function drift_lines(info, docs)
  local setup = require "relrun.phases.setup"
  local lines = {}
  for _, l in ipairs(policy.diff(docs.trust, info.trust)) do lines[#lines + 1] = "trust policy: " .. l end
  local found = false
  for _, p in ipairs(info.policies) do
    if p.name == setup.POLICY_NAME and not p.attached then
      found = true
      for _, l in ipairs(policy.diff(docs.permissions, p.document)) do lines[#lines + 1] = p.name .. ": " .. l end
    else
      lines[#lines + 1] = string.format("%s policy %s is not one setup writes", p.attached and "attached" or "inline",
        p.name)
    end
  end
  if not found then lines[#lines + 1] = "no inline policy " .. setup.POLICY_NAME end
  return lines
end

local function drift_check(g, ctx)
  g:check("role policies as relrun setup writes them", function()
    if ctx.opts.offline then return checks.skip("--offline") end
    if not ctx.cfg.role_arn then return checks.skip("AWS_ROLE_ARN is not set") end
    if not (ctx.cfg.domain and ctx.cfg.repository and ctx.cfg.region) then
      return checks.skip("CODEARTIFACT_DOMAIN, CODEARTIFACT_REPOSITORY and AWS_REGION are needed to fill RELEASE.md's documents")
    end
    local info, result = aws.role_or_result(ctx)
    if not info then return result end
    local setup = require "relrun.phases.setup"
    local repository = aws.github_repository(ctx)
    if not repository then return checks.skip("no GitHub repository (GITHUB_REPOSITORY or an origin remote)") end
    local subs = setup.trust({ opts = {}, github_repository = repository }, ctx.project)
    local docs = setup.role_documents(ctx.project, ctx.cfg.role_arn:match("::(%d+):"), repository, subs)
    local lines = drift_lines(info, docs)
    if #lines == 0 then
      return checks.ok(string.format("role %s: trust and %s exactly as relrun setup writes them", info.name, setup.POLICY_NAME))
    end
    return checks.warn("role " .. info.name .. ": " .. table.concat(lines, "; "),
      "review the change; `relrun setup --dry-run` shows setup's documents, --update writes them " ..
      "(other policies are never touched: detach them by hand)")
  end, "IAM GetRole, ListRolePolicies, ListAttachedRolePolicies against relrun.phases.setup's documents")
end

-- The environment's deployment rules: a tag rule, and no branch rule.
local function environment_rules(gh, env, name)
  local dbp = env.deployment_branch_policy
  if type(dbp) ~= "table" then return "any branch or tag may deploy to it" end
  if dbp.protected_branches == true then return "protected branches (not tags) may deploy to it" end
  local rules, err = gh:request("GET", gh:repo_path("/environments/" .. require("relrun.http").url_encode(name) ..
    "/deployment-branch-policies"))
  if not rules then return nil, err.message end
  local tags, branches = {}, {}
  for _, r in ipairs(type(rules) == "table" and rules.branch_policies or {}) do
    if r.type == "tag" then tags[#tags + 1] = r.name else branches[#branches + 1] = r.name end
  end
  if #tags == 0 then return "no tag rule (no release tag may deploy to it)" end
  if #branches > 0 then return "branches may deploy to it too (" .. table.concat(branches, ", ") .. ")" end
  return nil, nil, tags
end

-- What is wrong with a job that runs relrun's publish: the trigger and
-- the OIDC token (relrun.workflows' release jobs), the checkout's history,
-- relrun installed before it runs.
local function publish_job_problems(ctx, j, release, notes)
  local problems = {}
  local mismatch = false
  for _, note in ipairs(notes) do
    mismatch = mismatch or note:find(j.file .. ": job " .. j.job .. " runs for tags", 1, true) == 1
  end
  if not release and not mismatch then   -- a trigger no release tag matches is relrun.workflows' note
    problems[#problems + 1] = string.format("it gets no OIDC token when a release tag (%s*) is pushed " ..
      "(on: push: tags: [\"%s*\"] and permissions: id-token: write)", ctx.prefix, ctx.prefix)
  end
  local tag = ctx.opts.tag or (ctx.repo and ctx.project:last_release() or {}).name or ctx.project.scheme:tag("1.0.0")
  if release and #release.tags > 0 then
    local runs = false
    for _, pattern in ipairs(release.tags) do runs = runs or policy.wildcard_match(pattern, tag) end
    if not runs then
      problems[#problems + 1] = string.format("it runs for tags %s, which the release tag %s does not match: a " ..
        "release never starts it", table.concat(release.tags, ", "), tag)
    end
  end
  local steps = type(j.def.steps) == "table" and j.def.steps or {}
  local checkout, installed = nil, false
  for _, step in ipairs(steps) do
    if type(step) == "table" and type(step.uses) == "string" and step.uses:find("^actions/checkout@") then
      checkout = step
    end
    if jobs.publishes(step) then break end
    installed = installed or jobs.installs_relrun(step)
  end
  local depth = checkout and type(checkout.with) == "table" and checkout.with["fetch-depth"]
  if not checkout then
    problems[#problems + 1] = "no actions/checkout step"
  elseif depth ~= "0" then
    problems[#problems + 1] = "checkout without `fetch-depth: 0` (a shallow clone: no tags, wrong version)"
  end
  if not installed and not (type(j.def.container) == "string" and j.def.container:find("relrun", 1, true)) then
    problems[#problems + 1] = "no step installs relrun before it runs"
  end
  return problems
end

-- Whether a note of relrun.workflows is about relrun's release: a job that
-- runs relrun and that no release tag starts, or a file relrun could not
-- read that mentions relrun. Other workflows' triggers are their own
-- business (pypa/hatch releases hatchling from hatchling-v* tags).
function concerns_relrun(note, publishing, root)
  if note:find("no release tag", 1, true) then
    for _, prefix in ipairs(publishing) do
      if note:sub(1, #prefix) == prefix then return true end
    end
    return false
  end
  local file = note:match("^(.-): not read")
  if file then return (require("relrun.fs").read(root .. "/" .. file) or ""):find("relrun", 1, true) ~= nil end
  return false
end

local function release_workflow_check(g, ctx)
  g:check("the release workflow", function()
    local release_jobs, notes = jobs.release(ctx)
    local by_key = {}
    for _, job in ipairs(release_jobs) do by_key[job.file .. "\0" .. job.job] = job end
    local found, problems, publishing = {}, {}, {}
    for _, j in ipairs(jobs.all(ctx)) do
      local command
      for _, step in ipairs(type(j.def.steps) == "table" and j.def.steps or {}) do
        command = command or jobs.publishes(step)
      end
      if command then
        publishing[#publishing + 1] = j.file .. ": job " .. j.job .. " "
        local release = by_key[j.file .. "\0" .. j.job]
        local what = workflows.describe(j)
        for _, p in ipairs(publish_job_problems(ctx, j, release, notes)) do problems[#problems + 1] = what .. ": " .. p end
        found[#found + 1] = string.format("%s: tags %s, id-token: write, fetch-depth: 0, installs relrun, runs `%s`",
          what, release and table.concat(release.tags, ", ") or "?", command)
      end
    end
    for _, note in ipairs(notes) do
      if concerns_relrun(note, publishing, aws.root(ctx)) then problems[#problems + 1] = note end
    end
    if #problems > 0 then
      return checks.fail(table.concat(problems, "; "), "fix the workflow (`relrun workflow` writes relrun's)")
    end
    if #found == 0 then
      return checks.warn("no workflow in .github/workflows runs `relrun --locked release publish`",
        "add .github/workflows/release.yml (`relrun workflow` writes it)")
    end
    return checks.ok(table.concat(found, "; "))
  end, ".github/workflows (relrun.workflows: the jobs a release tag " .. ctx.prefix .. "* starts with an OIDC token)")
end

-- The token a step pushes with: GITHUB_TOKEN (or GIT_TOKEN) from the
-- step's, job's or workflow's env, else the checkout's `token`, else the
-- one actions/checkout leaves behind — the workflow's own.
local function push_token(j, step)
  for _, env in ipairs({ step.env, j.def.env, j.doc.env }) do
    if type(env) == "table" and (env.GITHUB_TOKEN or env.GIT_TOKEN) then return env.GITHUB_TOKEN or env.GIT_TOKEN end
  end
  for _, s in ipairs(type(j.def.steps) == "table" and j.def.steps or {}) do
    if type(s) == "table" and type(s.uses) == "string" and s.uses:find("^actions/checkout@")
        and type(s.with) == "table" and s.with.token then
      return s.with.token
    end
  end
  return "${{ github.token }}"
end

local function tag_push_check(g, ctx)
  g:check("tags pushed by a workflow trigger the release", function()
    for _, j in ipairs(jobs.all(ctx)) do
      for _, step in ipairs(type(j.def.steps) == "table" and j.def.steps or {}) do
        local line = jobs.pushes_tags(step)
        local token = line and tostring(push_token(j, step))
        if token and (token:find("secrets.GITHUB_TOKEN", 1, true) or token:find("github.token", 1, true)) then
          return checks.warn(workflows.describe(j) .. " pushes tags (`" .. line .. "`) with the workflow's own " ..
            "GITHUB_TOKEN, and such pushes do not start other workflows: the release workflow will not run",
            "push tags with a GitHub App token or a PAT")
        end
      end
    end
    return checks.ok("no workflow pushes tags with GITHUB_TOKEN")
  end)
end

-- Folders that hold test data or documentation: a private key in
-- tests/certs/ is, almost always, a fixture the project's TLS tests need
-- (psf/requests has four, urllib3's dummyserver/certs/ sixteen), and one
-- in docs/ an example. A folder named for tests (exactly
-- t/, celery's; spec/), or whose name starts with a test word or ends with
-- one (integration_tests, but not latest).
local TEST_NAMES = { t = true, spec = true, specs = true, __tests__ = true,
                     docs = true, doc = true, documentation = true }   -- pyjwt's docs/usage.rst shows sample keys
local TEST_STARTS = { "test", "fixture", "dummy", "sample", "example", "mock", "fake" }
local TEST_ENDS = { "tests", "testing", "_test", "-test", "fixtures" }

local function is_test_folder(name)
  name = name:lower()
  if TEST_NAMES[name] then return true end
  for _, w in ipairs(TEST_STARTS) do if name:sub(1, #w) == w then return true end end
  for _, w in ipairs(TEST_ENDS) do if #name > #w and name:sub(-#w) == w then return true end end
  return false
end

-- Whether a finding's file lies in a test folder.
function M.in_tests(file)
  for part in (file or ""):gmatch("([^/]+)/") do
    if is_test_folder(part) then return true end
  end
  return false
end

-- Credentials in any commit of any ref, or in uncommitted changes. Found
-- only in test, fixture or documentation folders, they are a warning:
-- fixtures are committed on purpose, but a real key there would still need
-- rotating. Those elsewhere are named first; a long list is cut (pyjwt has
-- sixteen test keys).
local SHOWN = 6
local function credentials_check(g, ctx)
  local root = aws.root(ctx)
  g:check("no credentials in tracked files or history", function()
    if not ctx.repo then return checks.skip("not a git checkout") end
    local findings, err = M.scan_repository(root)
    if not findings then return checks.skip(err) end
    if #findings == 0 then return checks.ok("no AWS keys, GitHub tokens or private keys in any commit") end
    local only_tests = true
    for _, f in ipairs(findings) do only_tests = only_tests and M.in_tests(f.file) end
    local ordered = {}
    for _, f in ipairs(findings) do if not M.in_tests(f.file) then ordered[#ordered + 1] = f end end
    for _, f in ipairs(findings) do if M.in_tests(f.file) then ordered[#ordered + 1] = f end end
    local parts = {}
    for k, f in ipairs(ordered) do
      if k > SHOWN then parts[#parts + 1] = string.format("and %d more", #ordered - SHOWN); break end
      local where = f.file or "?"
      if f.commit then
        local ago = commits_ago(root, f.commit)
        where = where .. " in commit " .. f.commit:sub(1, 7) ..
          (ago and (ago == 0 and " (HEAD)" or string.format(" (%d commit%s ago)", ago, ago == 1 and "" or "s")) or "")
      else
        where = where .. " (uncommitted)"
      end
      parts[#parts + 1] = string.format("%s %s in %s", f.kind, f.shown, where)
    end
    if only_tests then
      return checks.warn("only in test, fixture or documentation folders: " .. table.concat(parts, "; "),
        "nothing to do for test fixtures that never protected anything; a real credential among them: revoke and " ..
        "rotate it, then remove it from history (git filter-repo)")
    end
    return checks.fail(table.concat(parts, "; "),
      "revoke and rotate each credential now, then remove it from history (git filter-repo) — deleting the file is not enough")
  end)
end

-- Long-term keys in the environment where OIDC would do.
local function oidc_keys_check(g, ctx)
  g:check("OIDC rather than long-term keys", function()
    local key = os.getenv("AWS_ACCESS_KEY_ID")
    if key and key:match("^AKIA") then
      if ctx.cfg.role_arn or os.getenv("ACTIONS_ID_TOKEN_REQUEST_URL") then
        return checks.warn("long-term access key " .. key:sub(1, 4) .. "… is set while OIDC is available",
          "remove AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the job; relrun assumes AWS_ROLE_ARN with OIDC")
      end
      return checks.warn("a long-term access key " .. key:sub(1, 4) .. "… is in use",
        "prefer OIDC (RELEASE.md: IAM Role for GitHub Actions OIDC)")
    end
    return checks.ok(key and "temporary credentials" or "no static keys in the environment")
  end)
end

-- The GitHub environment of the release job: exists, tag rules only, reviewers.
local function environment_check(g, ctx)
  g:check("the production environment", function()
    if not ctx.github then return checks.skip("no GITHUB_TOKEN to read environments with") end
    local name = ctx.cfg.environment
    local env, err = ctx.github:environment(name)
    if env == nil then return checks.skip(err.message) end
    if env == false then
      return checks.fail("environment " .. name .. " does not exist",
        "create it (relrun setup) with required reviewers and tag-only deployments")
    end
    local reviewers = false
    for _, rule in ipairs(env.protection_rules or {}) do
      if rule.type == "required_reviewers" then reviewers = true end
    end
    local problem, rerr, tags = environment_rules(ctx.github, env, name)
    if rerr then return checks.skip("its deployment rules: " .. rerr) end
    if problem then
      return checks.fail("environment " .. name .. ": " .. problem,
        "Settings → Environments → " .. name .. " → Deployment branches and tags: selected tags " .. ctx.prefix ..
        "* only (relrun setup --update)")
    end
    if not reviewers then
      return checks.warn("environment " .. name .. ": tags " .. table.concat(tags, ", ") ..
        " only, but no required reviewers", "add required reviewers (RELEASE.md recommends them)")
    end
    return checks.ok("environment " .. name .. ": required reviewers, tags " .. table.concat(tags, ", ") .. " only")
  end, "GitHub environments API")
end

function M.register(g, ctx)
  credentials_check(g, ctx)
  oidc_keys_check(g, ctx)
  release_workflow_check(g, ctx)
  tag_push_check(g, ctx)
  environment_check(g, ctx)
  policies_check(g, ctx)
  drift_check(g, ctx)
  access_keys_check(g, ctx)
  key_use_check(g, ctx)
end

return M
