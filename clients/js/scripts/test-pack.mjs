// Packs the package (prepack builds it), installs the tarball into an empty temporary
// directory with nothing but its declared dependencies, and imports every entry point.
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
const work = mkdtempSync(join(tmpdir(), "micro-client-pack-"));
try {
  const packed = JSON.parse(execFileSync("npm", ["pack", "--json", "--pack-destination", work], { cwd: root, encoding: "utf8" }));
  const tarball = join(work, packed[0].filename);
  const app = join(work, "app");
  execFileSync("mkdir", ["-p", app]);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "pack-check", private: true, type: "module" }));
  execFileSync("npm", ["install", "--no-audit", "--no-fund", tarball], { cwd: app, stdio: "inherit" });
  const check = `
    import * as sdk from "@micro-user-service/client";
    import * as verifier from "@micro-user-service/client/verifier";
    for (const name of ["createVerifier", "createUpstreamVerifier", "createClient", "apiKey", "TokenError", "MicroApiError"])
      if (typeof sdk[name] !== "function") throw new Error("missing export " + name);
    if (typeof verifier.createVerifier !== "function") throw new Error("missing ./verifier");
    console.log("the packed tarball installs and imports");
  `;
  execFileSync("node", ["--input-type=module", "-e", check], { cwd: app, stdio: "inherit" });
} finally {
  rmSync(work, { recursive: true, force: true });
}
