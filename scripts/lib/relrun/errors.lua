-- relrun.errors: the one error type of relrun's Lua layer.
--
--   local errors = require "relrun.errors"
--   return nil, errors.new("BUILD_FAILED", "the build failed (exit 1)",
--                          { hint = "fix it in a new commit, then release a new version" })
--   local v = errors.check(lib.call())        -- raises the error a library returned
--   errors.raise("USAGE", "give --version or --bump", { exit = 2 })
--
-- Libraries return `nil, err`; scripts raise it; the host prints it once, as
-- one line (`message; hint`), and exits with `err.exit` (1 unless set: 2 is
-- a usage error, 3 "checks found problems"). `code` is stable, for programs
-- and tests; `message` says what failed and why; `hint` the next step.
-- C primitives keep Lua's `nil, message, code`: `errors.from` turns that
-- into this type.
local M = {}

local Error = {}
Error.__index = Error
M.Error = Error

function Error:__tostring()
  -- (a message quoting a tool's last line may end with its full stop)
  if self.hint and self.hint ~= "" then return (self.message:gsub("%.$", "")) .. "; " .. self.hint end
  return self.message
end

-- So that `"context: " .. err` still reads as text where a string was
-- expected before (one error type, many old call sites).
function Error.__concat(a, b)
  return tostring(a) .. tostring(b)
end

-- new(code, message [, {hint=, exit=, status=, cause=, ...}]) -> err.
-- Extra fields (an HTTP status, the step that failed) are kept as given.
function M.new(code, message, fields)
  assert(type(code) == "string", "errors.new: code must be a string")
  assert(type(message) == "string", "errors.new: message must be a string")
  local e = setmetatable({}, Error)
  for k, v in pairs(fields or {}) do e[k] = v end
  e.code, e.message = code, message
  e.exit = e.exit or 1
  return e
end

function M.is(v, code)
  return getmetatable(v) == Error and (code == nil or v.code == code)
end

-- from(message, code [, fields]) -> err: a C primitive's `nil, msg, code`.
-- An err is passed through.
function M.from(message, code, fields)
  if M.is(message) then return message end
  return M.new(code ~= nil and tostring(code) or "ERROR", tostring(message or "failed"), fields)
end

-- wrap(err, context [, hint]) -> a new err whose message is "context: message";
-- the code, exit and fields are kept, the hint replaced when one is given.
function M.wrap(err, context, hint)
  local inner = M.from(err)
  local e = setmetatable({}, Error)
  for k, v in pairs(inner) do e[k] = v end
  e.message = context .. ": " .. inner.message
  if hint then e.hint = hint end
  e.cause = inner
  return e
end

-- raise(code, message [, fields]) or raise(err): never returns.
function M.raise(code, message, fields)
  if M.is(code) then error(code, 0) end
  error(M.new(code, message, fields), 0)
end

-- check(value, err_or_message, code, ...) -> value, ...; raises the error
-- when value is nil or false (assert for `nil, err` and `nil, msg, code`).
function M.check(value, err, code, ...)
  if value then return value, err, code, ... end
  error(M.from(err, code), 0)
end

-- protect(fn, ...) -> fn's results | nil, err: a raised error of this type
-- becomes a return value; anything else (a bug, Ctrl-C) raises on.
function M.protect(fn, ...)
  local res = table.pack(pcall(fn, ...))
  if res[1] then return table.unpack(res, 2, res.n) end
  if M.is(res[2]) then return nil, res[2] end
  error(res[2], 0)
end

return M
