-- relrun.maintain.versions and relrun.maintain.prune on their own: PEP 440
-- kinds, totals and the price, the retention rules (newest N, age, finals
-- never unless asked, the latest final always kept), malformed policies.
local versions = require "relrun.maintain.versions"
local prune = require "relrun.maintain.prune"
local config = require "relrun.config"

local DAY = 86400
local NOW = 1800000000

-- rows as collect() makes them: { version, published (days ago), status }
local function rows(list)
  local out = {}
  for i, v in ipairs(list) do
    out[i] = { version = v[1], published = NOW - v[2] * DAY, status = v[3] or "Published",
               kind = versions.kind(v[1]), size = 1000, files = {} }
  end
  return out
end

local function verdicts(decisions)
  local out = {}
  for _, d in ipairs(decisions) do out[d.row.version] = d.action end
  return out
end

describe("versions", function()
  it("sorts versions into PEP 440 kinds", function()
    eq(versions.kind("1.2.3"), "final")
    eq(versions.kind("1.2.3rc1"), "pre")
    eq(versions.kind("1.2.3.post2"), "post")
    eq(versions.kind("1.2.3.dev4"), "dev")
    eq(versions.kind("1.2.3rc1.dev4"), "dev")
    eq(versions.kind("1.2.3rc1.post1"), "pre")
    eq(versions.kind("1.2.3+local.1"), "final")
    eq(versions.kind("not-a-version"), "invalid")
  end)

  it("totals bytes, GB and the month's cost at the given price", function()
    local r = rows{ { "1.0.0", 3 }, { "1.1.0.dev1", 2 } }
    r[1].size, r[2].size = versions.GIB, versions.GIB // 2
    local t = versions.totals(r, 0.05)
    eq(t.bytes, versions.GIB + versions.GIB // 2)
    eq(t.gb, 1.5)
    ok(math.abs(t.monthly - 0.075) < 1e-12, "1.5 GB at $0.05: " .. t.monthly)
    eq(t.by_kind.final, { count = 1, bytes = versions.GIB })
    eq(t.by_kind.dev.count, 1)
    contains(versions.summary_line(t), "2 version(s), 1.5 GiB stored: about $0.08 a month at $0.05 per GB-month")
    local md = versions.markdown(r, t, "the local repository /x")
    contains(md, "| 1.1.0.dev1 | Published | dev |")
    local empty = versions.totals({}, 0.05)
    eq(versions.summary_line(empty), "0 version(s), 0 B stored: about $0.00 a month at $0.05 per GB-month")
  end)
end)

describe("prune policy", function()
  it("keeps the newest N dev versions and removes the rest", function()
    local r = rows{ { "1.0.0", 50 }, { "1.0.1.dev1", 40 }, { "1.0.1.dev2", 30 }, { "1.0.1.dev3", 20 },
                    { "1.0.1.dev4", 10 } }
    local d = verdicts(prune.decide(r, assert(prune.policy{ keep_dev = 2 }), NOW))
    eq(d, { ["1.0.0"] = "keep", ["1.0.1.dev1"] = "remove", ["1.0.1.dev2"] = "remove", ["1.0.1.dev3"] = "keep",
            ["1.0.1.dev4"] = "keep" })
  end)

  it("with an age, removes only dev versions beyond N that are older than it", function()
    local r = rows{ { "1.0.1.dev1", 40 }, { "1.0.1.dev2", 30 }, { "1.0.1.dev3", 20 }, { "1.0.1.dev4", 10 } }
    local d = verdicts(prune.decide(r, assert(prune.policy{ keep_dev = 1, older_than_days = 25 }), NOW))
    eq(d, { ["1.0.1.dev1"] = "remove", ["1.0.1.dev2"] = "remove", ["1.0.1.dev3"] = "keep", ["1.0.1.dev4"] = "keep" })
    d = verdicts(prune.decide(r, assert(prune.policy{ older_than_days = 15 }), NOW))
    eq(d["1.0.1.dev3"], "remove")
    eq(d["1.0.1.dev4"], "keep")
  end)

  it("never touches finals, pre- or post-releases unless asked, and never the latest final", function()
    local r = rows{ { "0.9.0", 400 }, { "1.0.0rc1", 300 }, { "1.0.0", 200 }, { "1.0.0.post1", 150 },
                    { "0.9.1", 100 } }
    local d = verdicts(prune.decide(r, assert(prune.policy{ keep_dev = 0, older_than_days = 1 }), NOW))
    for v, a in pairs(d) do eq(a, "keep", v) end
    d = verdicts(prune.decide(r, assert(prune.policy{ keep_dev = 0, include_finals = true }), NOW))
    -- 1.0.0 is the latest final by PEP 440, though 0.9.1 was published after it
    eq(d, { ["0.9.0"] = "remove", ["1.0.0rc1"] = "remove", ["1.0.0"] = "keep", ["1.0.0.post1"] = "remove",
            ["0.9.1"] = "remove" })
  end)

  it("says what is already done, so a rerun does nothing twice", function()
    local r = rows{ { "1.0.1.dev1", 40, "Disposed" }, { "1.0.1.dev2", 30, "Unlisted" }, { "1.0.1.dev3", 20 } }
    local d = prune.decide(r, assert(prune.policy{ keep_dev = 1 }), NOW)
    eq(verdicts(d), { ["1.0.1.dev1"] = "done", ["1.0.1.dev2"] = "remove", ["1.0.1.dev3"] = "keep" })
    local unlist = verdicts(prune.decide(r, assert(prune.policy{ keep_dev = 1, action = "unlist" }), NOW))
    eq(unlist, { ["1.0.1.dev1"] = "keep", ["1.0.1.dev2"] = "done", ["1.0.1.dev3"] = "keep" })
    local remove, done = prune.chosen(d)
    eq(remove, { "1.0.1.dev2" })
    eq(done, { "1.0.1.dev1" })
  end)

  it("keeps the version the project's latest final requires", function()
    local r = rows{ { "0.3.0.dev1", 40 }, { "0.3.0.dev2", 30 }, { "0.3.0.dev3", 20 }, { "0.2.0", 50 },
                    { "0.2.1", 45 } }
    local keep = prune.protected(r, { "stock-utils==0.3.0.dev1", "Stock_Utils>=0.2,<0.3 ; python_version>'3'",
                                      "requests>=2" }, "stock-utils", "stock-pipeline 1.0.0")
    eq(keep, { ["0.3.0.dev1"] = "stock-pipeline 1.0.0 requires stock-utils==0.3.0.dev1",
               ["0.2.1"] = "stock-pipeline 1.0.0 requires Stock_Utils>=0.2,<0.3 ; python_version>'3'" })
    local d = verdicts(prune.decide(r, assert(prune.policy{ keep_dev = 0, include_finals = true }), NOW, keep))
    eq(d, { ["0.3.0.dev1"] = "keep", ["0.3.0.dev2"] = "remove", ["0.3.0.dev3"] = "remove", ["0.2.0"] = "remove",
            ["0.2.1"] = "keep" })
    -- a range that only dev versions satisfy keeps the newest of them
    eq(prune.protected(r, { "stock-utils>=0.3.0.dev0" }, "stock-utils", "x 1"),
       { ["0.3.0.dev3"] = "x 1 requires stock-utils>=0.3.0.dev0" })
  end)

  it("leaves a version that is not PEP 440 alone", function()
    local r = rows{ { "nightly-7", 400 }, { "1.0.1.dev1", 40 } }
    local d = verdicts(prune.decide(r, assert(prune.policy{ keep_dev = 0, include_finals = true }), NOW))
    eq(d, { ["nightly-7"] = "keep", ["1.0.1.dev1"] = "remove" })
  end)

  it("refuses to run without a rule, and a malformed policy names its source", function()
    local p, err = prune.policy{}
    eq(p, nil)
    eq(err.code, "NO_POLICY")
    eq(err.exit, 2)
    local function load(tbl)
      return config.load{ pyproject = { project = { name = "x" }, tool = { relrun = { retention = tbl } } },
                          getenv = function() end }
    end
    local cfg = assert(load{ keep_dev = 5, action = "delete" })
    eq(assert(prune.policy(cfg.retention)).mode, "deleted")
    local _, e1 = load{ keep_dev = "five" }
    contains(tostring(e1), "retention.keep_dev (from pyproject.toml [tool.relrun] retention.keep_dev) must be a number")
    local _, e2 = load{ keep_dev = 2.5 }
    contains(tostring(e2), "whole number")
    local _, e3 = load{ action = "shred", keep_dev = 1 }
    contains(tostring(e3), "one of dispose, delete, unlist, archive")
    local _, e4 = load{ keep = 3 }
    contains(tostring(e4), "unknown setting retention.keep (did you mean retention.keep_dev?)")
    eq(e4.exit, 2)
  end)
end)

describe("deps", function()
  local deps = require "relrun.maintain.deps"

  it("reads PEP 508 requirements and PEP 440 specifiers", function()
    local r = deps.parse_requirement("Requests[socks,security] >=2.31, <3 ; python_version > '3.8'")
    eq(r.name, "Requests")
    eq(r.extras, "socks,security")
    eq(r.specs, { { op = ">=", version = "2.31" }, { op = "<", version = "3" } })
    eq(r.marker, "python_version > '3.8'")
    eq(deps.parse_requirement("pkg @ https://example.com/pkg.whl").url, "https://example.com/pkg.whl")
    eq(deps.parse_requirement("click").specs, {})
    eq(deps.parse_requirement("bad >> 1"), nil)
    local function allows(spec, v) return deps.allows(deps.parse_requirement("x" .. spec).specs, v) end
    eq(allows(">=2.31,<3", "2.32.3"), true)
    eq(allows(">=2.31,<3", "3.0"), false)
    eq(allows("~=2.2", "2.9"), true)
    eq(allows("~=2.2", "3.0"), false)
    eq(allows("~=1.4.5", "1.4.9"), true)
    eq(allows("~=1.4.5", "1.5.0"), false)
    eq(allows("==1.26.*", "1.26.4"), true)
    eq(allows("==1.26.*", "2.0.0"), false)
    eq(allows("!=1.0", "1.0.0"), false)
    eq(allows("", "9"), true)
  end)

  it("finds excluded newer versions, unpinned and over-pinned requirements", function()
    local py = { project = { dependencies = { "requests>=2.31,<2.32", "numpy==1.26.4", "click", "x @ file:///x",
                                              "not valid !!" },
                             ["optional-dependencies"] = { test = { "pytest>=7" } } },
                 ["build-system"] = { requires = { "setuptools==69.0.0" } } }
    local index = { requests = { "2.31.0", "2.32.3", "2.33.0rc1" }, numpy = { "1.26.4", "2.0.0" },
                    pytest = { "8.0.0" }, setuptools = { "69.0.0", "75.1.0" } }
    local found = deps.check_requirements(deps.requirements(py), function(name)
      if index[name] then return index[name] end
      return nil, "not in the index"
    end)
    local text = {}
    for _, f in ipairs(found) do text[#text + 1] = f.level .. " " .. f.subject .. ": " .. f.message end
    text = table.concat(text, "\n")
    contains(text, "warn requests>=2.31,<2.32 (dependencies): the index has 2.32.3, which this excludes")
    contains(text, "warn numpy==1.26.4 (dependencies): over-pinned")
    contains(text, "warn numpy==1.26.4 (dependencies): the index has 2.0.0")
    contains(text, "note click (dependencies): unpinned")
    contains(text, "note click (dependencies): not checked: not in the index")
    contains(text, "note x @ file:///x (dependencies): a direct URL")
    contains(text, "warn not valid !! (dependencies): not a PEP 508 requirement")
    ok(not text:find("pytest"), "pytest>=7 allows 8.0.0: " .. text)
    -- a build requirement may be exact; it is still told of newer releases
    ok(not text:find("setuptools[^\n]*over%-pinned"), text)
    contains(text, "warn setuptools==69.0.0 (build-system.requires): the index has 75.1.0")
  end)

  it("warns of Pythons past or within six months of their end of life", function()
    local function at(date)
      local y, m, d = date:match("(%d+)-(%d+)-(%d+)")
      return os.time{ year = tonumber(y), month = tonumber(m), day = tonumber(d), hour = 12 }
    end
    local py = { project = { ["requires-python"] = ">=3.9", classifiers = {
      "Programming Language :: Python :: 3.9", "Programming Language :: Python :: 3.10",
      "Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.8" } } }
    local found, rp = deps.check_python(py, at("2026-06-01"))
    eq(rp, ">=3.9")
    local text = {}
    for _, f in ipairs(found) do text[#text + 1] = f.level .. " " .. f.subject .. ": " .. f.message end
    text = table.concat(text, "\n")
    contains(text, "warn Python 3.9: requires-python allows and a classifier names 3.9, past its end of life (2025-10-31)")
    contains(text, "warn Python 3.10: requires-python allows and a classifier names 3.10, which reaches its end of " ..
      "life on 2026-10-31 (in 152 days)")
    contains(text, "warn Python 3.8: a classifier names 3.8, past its end of life")
    contains(text, "note Python 3.12: supported but not in the classifiers")
    ok(not text:find("Python 3.11"), "3.11 is fine in June 2026: " .. text)
    ok(not text:find("Python 3.7"), "3.7 is neither allowed nor named: " .. text)
    found = deps.check_python({ project = {} }, at("2026-06-01"))
    eq(found[1].subject, "requires-python")
    contains(found[1].message, "not set")
    found = deps.check_python({ project = { ["requires-python"] = ">=3.12,<3.13",
      classifiers = { "Programming Language :: Python :: 3.13" } } }, at("2026-06-01"))
    eq(#found, 2)
    eq(found[1].message, "supported but not in the classifiers")
    eq(found[1].subject, "Python 3.12")
    eq(found[2].message, "a classifier names 3.13, which requires-python excludes")
  end)
end)
