-- relrun.host: the secret registry as C bindings use it, and the loader's bookkeeping.
local host = require "relrun.host"

local RELRUN = os.getenv("RELRUN")

local function run(code, env)
  local f = assert(io.popen(string.format("env -u GITHUB_ACTIONS %s %s -e %q 2>&1", env or "", RELRUN, code)))
  local out = f:read("a")
  f:close()
  return out
end

describe("host", function()
  it("masks a secret in its raw, URL-encoded and base64 forms", function()
    local out = run([[local h = require "relrun.host"; h.secret("tok/en+value==");
      print("raw tok/en+value==", "url tok%2Fen%2Bvalue%3D%3D", "b64 dG9rL2VuK3ZhbHVlPT0=")]])
    eq(out, "raw ***\turl ***\tb64 ***=\n")
  end)

  it("sends a secret registered from C to the Actions runner once, before it could print", function()
    local out = run([[local h = require "relrun.host"; h.secret("abc%def\nsecond-line"); h.secret("abc%def");
      print("abc%def second-line")]], "GITHUB_ACTIONS=true")
    eq(out, "::add-mask::abc%25def\n::add-mask::second-line\n*** ***\n")
  end)

  it("does not emit add-mask outside Actions", function()
    eq(run([[require("relrun.host").secret("plain-secret"); print("x")]]), "x\n")
  end)

  it("knows which embedded libraries exist and where one was loaded from", function()
    ok(host.embedded()["relrun.steps"], "relrun.steps is embedded")
    require "relrun.util"
    eq(host.source("relrun.util"), "scripts/lib/relrun/util.lua")
    eq(host.source("relrun.nothing"), nil)
  end)
end)

describe("host.sleep", function()
  it("waits about as long as asked and refuses a negative time", function()
    local t0 = os.time()
    host.sleep(0.1)
    ok(os.time() - t0 <= 1)
    raises(function() host.sleep(-1) end, "must not be negative")
  end)
end)

describe("loadable modules", function()
  it("http, git and archive load on first require, beside the program", function()
    local out = run([[print(require("relrun.git").open ~= nil, require("relrun.http").request ~= nil,
      require("relrun.archive").list ~= nil)]])
    eq(out, "true\ttrue\ttrue\n")
  end)

  it("a missing module file is one line that says what to do", function()
    if os.getenv("RELRUN_SANITIZE") == "1" then
      skip("the sanitizer build links every module in (LeakSanitizer cannot scan dlopen'd TLS)")
    end
    local out = run([[require "relrun.git"]], "RELRUN_MODULE_DIR=/nonexistent")
    eq(out, "relrun: cannot load relrun.git: /nonexistent/relrun_git.so does not exist (RELRUN_MODULE_DIR names "
      .. "a folder without relrun's modules: unset it or point it at one)\n")
  end)

  it("a program copied without its modules says the installation is incomplete, naming both places", function()
    if os.getenv("RELRUN_SANITIZE") == "1" then
      skip("the sanitizer build links every module in (LeakSanitizer cannot scan dlopen'd TLS)")
    end
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p '" .. dir .. "' && cp '" .. RELRUN .. "' '" .. dir .. "/relrun'"))
    local f = assert(io.popen("env -u RELRUN_MODULE_DIR '" .. dir .. "/relrun' -e 'require \"relrun.git\"' 2>&1"))
    local out = f:read("a")
    f:close()
    os.execute("rm -rf '" .. dir .. "'")
    eq(out, "relrun: cannot load relrun.git: relrun_git.so is in neither " .. dir .. "/relrun-modules nor " .. dir
      .. "/../lib/relrun/modules, where this relrun keeps its modules (the installation is incomplete: reinstall "
      .. "relrun; a copied program needs that folder too, or RELRUN_MODULE_DIR naming it)\n")
    ok(not out:find("rebuild", 1, true), "no advice to rebuild")
  end)
end)

describe("host.monotime", function()
  it("moves forward by about the time slept", function()
    local t0 = host.monotime()
    host.sleep(0.05)
    local dt = host.monotime() - t0
    ok(dt >= 0.05, "at least the time slept: " .. dt)
  end)
end)
