-- Command lines from one option table: parsing and --help come from the same
-- description, so they cannot drift apart.
--
--   local cli = require "relrun.cli"
--   local spec = {
--     prog = "release", summary = "Release the package.",
--     commands = { { "prepare", "check main is ready" }, { "tag", "create and push the tag" } },
--     options = {
--       { "--dry-run", help = "show what would happen, change nothing" },
--       { "--bump", arg = "PART", choices = { "major", "minor", "patch" }, help = "..." },
--       { "--branch", arg = "NAME", default = "main", help = "release branch" },
--     },
--   }
--   local opts = cli.parse_or_exit(spec, arg)
--   opts.dry_run, opts.bump, opts.branch, opts.command, opts.args
--
-- `--flag`, `--opt value`, `--opt=value`, `-x` short aliases (`{ "-n", "--dry-run" }`),
-- `--` ends options. Unknown options and missing values are usage errors:
-- `parse` returns nil, message; `parse_or_exit` prints one line and exits 2.
-- `--help` / `-h` is always there. A spec may set `default_command`, or
-- `command_optional = true` (then opts.command may be nil).
local M = {}

local function key_of(long)
  return (long:gsub("^%-%-", ""):gsub("-", "_"))
end

-- Normalise the spec once: index options by every name they answer to.
local function index(spec)
  local by_name, list = {}, {}
  local help = { "-h", "--help", help = "show this help and exit", is_help = true }
  for _, o in ipairs(spec.options or {}) do list[#list + 1] = o end
  list[#list + 1] = help
  for _, o in ipairs(list) do
    local long
    for _, n in ipairs(o) do
      if type(n) ~= "string" or not n:find("^%-") then error("cli: option names start with '-': " .. tostring(n), 3) end
      if by_name[n] then error("cli: option " .. n .. " given twice", 3) end
      by_name[n] = o
      if n:find("^%-%-") then long = n end
    end
    o.key = o.key or key_of(long or o[1])
  end
  return by_name, list
end

local function usage_error(fmt, ...)
  error({ usage = string.format(fmt, ...) }, 0)
end

local function set_value(opts, o, name, value)
  if o.choices then
    local okay = false
    for _, c in ipairs(o.choices) do okay = okay or c == value end
    if not okay then
      usage_error("%s must be one of %s, not %q", name, table.concat(o.choices, ", "), value)
    end
  end
  if o.check then
    local good, err = o.check(value)
    if not good then usage_error("%s: %s", name, err or ("bad value " .. value)) end
  end
  if o.many then
    opts[o.key] = opts[o.key] or {}
    table.insert(opts[o.key], value)
  else
    opts[o.key] = value
  end
end

local function find_command(spec, word)
  for _, c in ipairs(spec.commands or {}) do
    if c[1] == word then return c end
  end
end

local function positional(spec, opts, word)
  if spec.commands and not opts.command then
    if not find_command(spec, word) then
      local names = {}
      for k, c in ipairs(spec.commands) do names[k] = c[1] end
      usage_error("unknown command %q (expected one of: %s)", word, table.concat(names, ", "))
    end
    opts.command = word
    return
  end
  opts.args[#opts.args + 1] = word
end

-- Consume argv[i] (an option), return the next index.
local function option(by_name, opts, argv, i)
  local word = argv[i]
  local name, inline = word:match("^(%-%-[^=]+)=(.*)$")
  name = name or word
  local o = by_name[name]
  if not o then usage_error("unknown option %s", name) end
  if o.is_help then opts.help = true; return i + 1 end
  if not o.arg then
    if inline then usage_error("%s takes no value", name) end
    if o.value ~= nil then opts[o.key] = o.value else opts[o.key] = true end
    return i + 1
  end
  if inline then set_value(opts, o, name, inline); return i + 1 end
  local value = argv[i + 1]
  if value == nil then usage_error("%s needs a value (%s %s)", name, name, o.arg) end
  set_value(opts, o, name, value)
  return i + 2
end

-- opts with the defaults of options not given, the default command, and
-- no more arguments than the spec takes; raises a usage error.
local function completed(spec, options, opts)
  for _, o in ipairs(options) do
    if opts[o.key] == nil and o.default ~= nil then opts[o.key] = o.default end
  end
  if spec.commands and not opts.command then
    if spec.default_command then
      opts.command = spec.default_command
    elseif not spec.command_optional then
      usage_error("missing command")
    end
  end
  local max = spec.max_args or (spec.args and #spec.args) or 0
  if #opts.args > max then usage_error("unexpected argument %q", opts.args[max + 1]) end
  return opts
end

local function parse(spec, argv)
  local by_name, list = index(spec)
  local opts = { args = {} }
  local i = 1
  while argv[i] ~= nil do
    local word = argv[i]
    if word == "--" then
      for k = i + 1, #argv do positional(spec, opts, argv[k]) end
      break
    elseif word:find("^%-.") then
      i = option(by_name, opts, argv, i)
    else
      positional(spec, opts, word)
      i = i + 1
    end
  end
  if opts.help then return opts end
  return completed(spec, list, opts)
end

-- parse(spec, argv) -> opts | nil, message. opts.help is true for -h/--help.
function M.parse(spec, argv)
  if type(spec) ~= "table" then error("cli.parse: spec must be a table", 2) end
  local good, result = pcall(parse, spec, argv or {})
  if good then return result end
  if type(result) == "table" and result.usage then return nil, result.usage end
  error(result, 0)
end

local function wrap(text, width, indent)
  local lines, line = {}, ""
  for w in text:gmatch("%S+") do
    if line ~= "" and #line + 1 + #w > width then
      lines[#lines + 1] = line
      line = w
    else
      line = line == "" and w or (line .. " " .. w)
    end
  end
  lines[#lines + 1] = line
  return table.concat(lines, "\n" .. string.rep(" ", indent))
end

local function usage_line(spec)
  -- a script is run by its name (relrun release) from any project
  local usage = "usage: " .. (spec.prog and ("relrun " .. spec.prog) or "script")
  if spec.commands then
    local optional = spec.default_command or spec.command_optional
    usage = usage .. " " .. (optional and "[COMMAND]" or "COMMAND")
  end
  usage = usage .. " [options]"
  for _, a in ipairs(spec.args or {}) do usage = usage .. " [" .. a[1] .. "]" end
  return usage
end

-- An option's help text with its choices and default.
local function option_text(o)
  local text = o.help or ""
  if o.choices then text = text .. " (" .. table.concat(o.choices, "|") .. ")" end
  if o.default ~= nil and o.default ~= false then text = text .. " [default: " .. tostring(o.default) .. "]" end
  return text
end

-- The rows of the help: { name, text }, a heading when name is "".
local function help_rows(spec, options)
  local rows = {}
  if spec.commands then
    rows[#rows + 1] = { "", "Commands:" }
    for _, c in ipairs(spec.commands) do rows[#rows + 1] = { "  " .. c[1], c[2] or "" } end
  end
  for _, a in ipairs(spec.args or {}) do rows[#rows + 1] = { "  " .. a[1], a[2] or "" } end
  rows[#rows + 1] = { "", "Options:" }
  for _, o in ipairs(options) do
    rows[#rows + 1] = { "  " .. table.concat(o, ", ") .. (o.arg and (" " .. o.arg) or ""), option_text(o) }
  end
  return rows
end

-- The rows as lines: names in one column, texts wrapped beside them.
local function add_rows(out, rows)
  local width = 0
  for _, r in ipairs(rows) do if r[1] ~= "" then width = math.max(width, #r[1]) end end
  for _, r in ipairs(rows) do
    if r[1] == "" then
      out[#out + 1] = r[2]
    else
      out[#out + 1] = r[1] .. string.rep(" ", width - #r[1] + 2) .. wrap(r[2], math.max(30, 78 - width - 2), width + 2)
    end
  end
end

-- help(spec) -> the --help text.
function M.help(spec)
  local _, list = index(spec)
  local out = { usage_line(spec) }
  if spec.summary then out[#out + 1] = spec.summary end
  add_rows(out, help_rows(spec, list))
  if spec.epilog then out[#out + 1] = spec.epilog end
  return table.concat(out, "\n") .. "\n"
end

-- parse_or_exit(spec, argv) -> opts. On --help prints the help and ends the
-- script with exit 0; a usage error ends it with "prog: message (try
-- --help)" and exit 2. (It raises rather than calling os.exit, so a program
-- embedding relrun keeps running.)
function M.parse_or_exit(spec, argv)
  local opts, err = M.parse(spec, argv)
  if not opts then
    require("relrun.errors").raise("USAGE", string.format("%s: %s (try --help)", spec.prog or "script", err),
      { exit = 2 })
  end
  if opts.help then
    io.stdout:write(M.help(spec))
    io.stdout:flush()
    error({ exit = 0 }, 0)   -- a silent end: the host exits 0 and prints nothing
  end
  return opts
end

local function shell_word(s)
  if s:match("^[%w%-%._/=:,@+]+$") then return s end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- command_line(argv, words) -> the command that ran this script, as a user
-- retypes it ("relrun release publish --repository-dir x"), with
-- `words` instead of the script's own arguments when given. The program's
-- name is argv's lowest index (relrun's own options left out).
function M.command_line(argv, words)
  local low = 0
  while argv[low - 1] ~= nil do low = low - 1 end
  local prog = low < 0 and argv[low] or "relrun"
  local out = { shell_word(prog:match("([^/]+)$") == "relrun" and prog or "relrun"), shell_word(argv[0] or "script") }
  for _, w in ipairs(words or argv) do out[#out + 1] = shell_word(w) end
  return table.concat(out, " ")
end

return M
