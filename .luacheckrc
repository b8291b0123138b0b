std = "lua54"
max_line_length = 130
files["tests/spec.lua"] = { globals = { "describe", "it", "before_each", "after_each", "eq", "ok", "raises", "contains", "skip" } }
files["tests/**/*_spec.lua"] = { read_globals = { "describe", "it", "before_each", "after_each", "eq", "ok", "raises", "contains", "skip" } }
exclude_files = { "build*/**", "examples/**/.venv/**" }
-- Methods keep `self` for a uniform interface (targets share one shape).
self = false
