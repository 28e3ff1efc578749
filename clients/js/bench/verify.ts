/** The verifier's cost per token against a bare `jose.jwtVerify(token, key, {algorithms:
 * ['RS256']})` with the key in hand, on the same token, JWKS cached. Prints one JSON line:
 * {"language": "js", "sdk_ns_per_token", "bare_ns_per_token", "ratio"}. `--smoke`: short run. */
import { jwtVerify } from "jose";

import { createVerifier } from "../src/verifier/index.js";
import { AUDIENCE, claims, FakeIssuer, ISSUER, makeKey, sign } from "../test/support/issuer.js";

const smoke = process.argv.includes("--smoke");
const iterations = smoke ? 200 : 5_000;
const rounds = smoke ? 1 : 5;

async function timePerToken(run: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < Math.min(iterations, 500); i++) await run();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await run();
  return Number(process.hrtime.bigint() - start) / iterations;
}

const key = await makeKey("k1");
const now = Math.floor(Date.now() / 1000);
const token = await sign(key, claims({ iat: now, exp: now + 600 }));
const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: new FakeIssuer([key]).fetch });
const cryptoKey = await verifier.jwks.key("k1");

// Alternate the two and keep each one's best round, so a noisy neighbour hurts both alike.
let sdk = Infinity;
let bare = Infinity;
for (let round = 0; round < rounds; round++) {
  bare = Math.min(bare, await timePerToken(() => jwtVerify(token, cryptoKey, { algorithms: ["RS256"] })));
  sdk = Math.min(sdk, await timePerToken(() => verifier.verify(token)));
}
console.log(JSON.stringify({ language: "js", sdk_ns_per_token: Math.round(sdk), bare_ns_per_token: Math.round(bare), ratio: Number((sdk / bare).toFixed(3)) }));
