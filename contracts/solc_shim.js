#!/usr/bin/env node
// A stand-in for the native `solc` binary, backed by npm solc-js, so py-solc-x can drive it
// offline. It answers only what py-solc-x asks: `--version` and `--standard-json` (stdin).
// Never call process.exit() after writing: a pipe cuts stdout at 64 KiB when the process
// exits before node has flushed it.
"use strict";
const fs = require("fs");
const path = require("path");

// Resolve solc from the repository's node_modules (this file lives in contracts/).
const solc = require(path.join(__dirname, "..", "node_modules", "solc"));

const args = process.argv.slice(2);
if (args.includes("--version")) {
  process.stdout.write(
    "solc, the solidity compiler commandline interface\nVersion: " + solc.version() + "\n"
  );
} else if (args.includes("--standard-json")) {
  const input = fs.readFileSync(0, "utf8");
  // All sources are passed inline, so imports never touch the file system.
  const noImports = (p) => ({ error: "import not found (sources must be inline): " + p });
  process.stdout.write(solc.compile(input, { import: noImports }));
} else {
  process.stderr.write("solc_shim: only --version and --standard-json are supported\n");
  process.exitCode = 2;
}
