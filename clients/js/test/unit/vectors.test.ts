/** The shared test vectors (clients/testdata/vectors.json): every case, the same verdict,
 * reason and principal as the Go and Python SDKs. */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, test } from "node:test";

import {
  createUpstreamVerifier,
  createVerifier,
  isPersonalSignIn,
  type Principal,
  TokenError,
} from "../../src/verifier/index.js";

// From dist/test/unit/ (or test/unit/) up to clients/js, then ../testdata.
const here = fileURLToPath(new URL(".", import.meta.url));
const packageRoot = here.includes("/dist/") ? new URL("../../../", import.meta.url) : new URL("../../", import.meta.url);
const path = fileURLToPath(new URL("../testdata/vectors.json", packageRoot));

interface Case {
  name: string;
  accept: "access" | "upstream";
  token: string;
  valid: boolean;
  reason: string | null;
  principal: Record<string, unknown> | null;
}

// The table is part of the repository: a missing file fails the run, it never skips it.
describe("shared vectors", () => {
  const vectors = JSON.parse(readFileSync(path, "utf8")) as {
    issuer: string; audience: string; upstream_audience: string; now: number; leeway: number; jwks: unknown; cases: Case[];
  };
  const fetch = async (url: string) =>
    url.endsWith("/.well-known/openid-configuration")
      ? Response.json({ issuer: vectors.issuer, jwks_uri: `${vectors.issuer}/.well-known/jwks.json` })
      : Response.json(vectors.jwks);
  const common = { issuer: vectors.issuer, leeway: vectors.leeway, fetch, now: () => vectors.now };
  const access = createVerifier({ ...common, audience: vectors.audience });
  const upstream = createUpstreamVerifier({ ...common, audience: vectors.upstream_audience });

  test("the table is not empty", () => assert.ok(vectors.cases.length >= 10));
  for (const item of vectors.cases) {
    test(item.name, async () => {
      const verifier = item.accept === "upstream" ? upstream : access;
      let principal: Record<string, unknown> | undefined;
      let reason: string | null = null;
      try {
        const verified: Principal = await verifier.verify(item.token);
        principal = { ...verified, personal: isPersonalSignIn(verified) };
      } catch (error) {
        if (!(error instanceof TokenError)) throw error;
        reason = error.reason;
      }
      assert.equal(reason, item.reason);
      assert.equal(principal !== undefined, item.valid);
      if (item.principal !== null) {
        for (const [field, expected] of Object.entries(item.principal)) {
          assert.deepEqual(principal?.[field], expected, `principal.${field}`);
        }
      }
    });
  }
});
