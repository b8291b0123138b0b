-- The CodeArtifact target's rollback: DeletePackageVersions or
-- UpdatePackageVersionsStatus, with every failedVersions entry reported.
local target = require "relrun.targets.codeartifact"

local function with_client(answers)
  local t = target.new{ domain = "acme", account_id = "111122223333", repository = "pypi-store",
                        region = "us-east-1", package = "stock-pipeline" }
  local calls = {}
  t.ca = {
    describe_package_version = function(_, a) calls[#calls + 1] = { "describe", a }; return answers.describe(a) end,
    delete_package_versions = function(_, a) calls[#calls + 1] = { "delete", a }; return answers.delete(a) end,
    update_package_versions_status = function(_, a) calls[#calls + 1] = { "status", a }; return answers.status(a) end,
  }
  t.client = function(self) return self.ca end
  return t, calls
end

describe("codeartifact rollback", function()
  it("deletes the version with the normalized package name", function()
    local t, calls = with_client{ delete = function() return { successfulVersions = { ["1.2.3"] = {} },
                                                                failedVersions = {} } end }
    ok(t:remove("1.2.3", "deleted"))
    eq(calls[1][1], "delete")
    eq(calls[1][2].versions, { "1.2.3" })
    eq(calls[1][2].package, "stock-pipeline")
    eq(calls[1][2].format, "pypi")
  end)

  it("unlists or archives through UpdatePackageVersionsStatus", function()
    local t, calls = with_client{ status = function() return { successfulVersions = {}, failedVersions = {} } end }
    t:remove("1.2.3", "Unlisted")
    t:remove("1.2.3", "Archived")
    eq({ calls[1][2].target_status, calls[2][2].target_status }, { "Unlisted", "Archived" })
  end)

  it("reports every failedVersions entry of a 200 answer", function()
    local t = with_client{ delete = function() return { successfulVersions = {}, failedVersions = {
      ["1.2.3"] = { errorCode = "MISMATCHED_STATUS", errorMessage = "status is Archived" } } } end }
    local good, err = t:remove("1.2.3", "deleted")
    eq(good, nil)
    contains(err, "1.2.3: MISMATCHED_STATUS status is Archived")
  end)

  it("knows when a version is gone, and its status otherwise", function()
    local t = with_client{ describe = function(a)
      if a.version == "9.9.9" then return nil, "not found", "ResourceNotFoundException" end
      return { status = "Unlisted" }
    end }
    eq(t:status("9.9.9"), "absent")
    eq(t:status("1.2.3"), "Unlisted")
  end)
end)
