/** The `./verifier` entry point runs in browsers and edge runtimes: none of the modules it
 * loads imports a Node builtin. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { test } from "node:test";

const IMPORT = /(?:import|export)\s[^;]*?from\s+["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/g;

function localImports(file: URL, seen: Set<string>): void {
  if (seen.has(file.href)) return;
  seen.add(file.href);
  const source = readFileSync(fileURLToPath(file), "utf8");
  for (const match of source.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? "";
    assert.ok(!specifier.startsWith("node:"), `${file.pathname} imports ${specifier}`);
    const builtins = ["fs", "path", "crypto", "http", "https", "net", "url", "buffer", "stream", "util"];
    assert.ok(!builtins.includes(specifier.split("/")[0] ?? ""), `${file.pathname} imports ${specifier}`);
    if (specifier.startsWith(".")) localImports(new URL(specifier, file), seen);
  }
}

test("the built verifier entry point imports no node: builtins", () => {
  const entry = new URL("../../src/verifier/index.js", import.meta.url);
  const seen = new Set<string>();
  localImports(entry, seen);
  assert.ok(seen.size >= 5, "every verifier module was followed");
});
