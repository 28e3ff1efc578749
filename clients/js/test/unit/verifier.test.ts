import assert from "node:assert/strict";
import { before, describe, test } from "node:test";

import { createUpstreamVerifier, createVerifier, hasScope, isPersonalSignIn, JwksCache, requireScopes, TokenError, KeysUnavailableError, InsufficientScopeError, InsecureUrlError } from "../../src/verifier/index.js";
import { AUDIENCE, claims, FakeIssuer, ISSUER, makeKey, NOW, sign, type TestKey } from "../support/issuer.js";
import { endlessBody, failingBody } from "../support/streams.js";

let k1: TestKey;
let k2: TestKey;
before(async () => {
  [k1, k2] = await Promise.all([makeKey("k1"), makeKey("k2")]);
});

function setup(options: { minRefetchIntervalMs?: number; keys?: TestKey[] } = {}) {
  const issuer = new FakeIssuer(options.keys ?? [k1]);
  let clock = 0;
  const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: issuer.fetch, now: () => NOW, minRefetchIntervalMs: options.minRefetchIntervalMs ?? 30_000 });
  return { issuer, verifier, tick: (ms: number) => (clock += ms), clock: () => clock };
}

async function reason(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof TokenError) return error.reason;
    throw error;
  }
  return "accepted";
}

describe("verifier", () => {
  test("a valid access token gives a typed principal", async () => {
    const { verifier } = setup();
    const principal = await verifier.verify(await sign(k1, claims({ client_id: "app" })));
    assert.equal(principal.user_id, "6f1c2f0e-8a55-4d7c-9a59-1d8b1f0b7c11");
    assert.deepEqual(principal.scopes, ["profile", "users:read"]);
    assert.equal(principal.client_id, "app");
    assert.equal(principal.token_id, "jti-1");
    assert.equal(principal.audience, AUDIENCE);
    assert.equal(principal.via_gateway, false);
  });

  test("the JWKS comes from the discovery document's jwks_uri and is cached", async () => {
    const { verifier, issuer } = setup();
    await verifier.verify(await sign(k1));
    await verifier.verify(await sign(k1));
    assert.equal(issuer.discoveryFetches, 1);
    assert.equal(issuer.jwksFetches, 1);
  });

  test("header checks come before any key lookup", async () => {
    const { verifier, issuer } = setup();
    assert.equal(await reason(verifier.verify(await sign(k1, claims(), { jku: "https://evil.test/jwks", kid: "nope" }))), "header");
    assert.equal(await reason(verifier.verify(await sign(k1, claims(), { typ: "JWT" }))), "type");
    assert.equal(issuer.jwksFetches, 0);
  });

  test("an upstream token is refused by the access verifier and the reverse", async () => {
    const { verifier, issuer } = setup();
    const upstream = await sign(k1, claims({ aud: "micro-upstream", token_type: "upstream", amr: [] }), { typ: "user+jwt" });
    assert.equal(await reason(verifier.verify(upstream)), "type");
    const upstreamVerifier = createUpstreamVerifier({ issuer: ISSUER, audience: "micro-upstream", fetch: issuer.fetch, now: () => NOW });
    assert.equal(await reason(upstreamVerifier.verify(await sign(k1))), "type");
    const principal = await upstreamVerifier.verify(upstream);
    assert.equal(principal.via_gateway, true);
    assert.deepEqual(principal.amr, []);
  });

  test("an access-typed token whose signed token_type says upstream is refused", async () => {
    const { verifier } = setup();
    assert.equal(await reason(verifier.verify(await sign(k1, claims({ token_type: "upstream" })))), "type");
  });

  test("iat in the future beyond the leeway is not yet valid", async () => {
    const { verifier } = setup();
    assert.equal(await reason(verifier.verify(await sign(k1, claims({ iat: NOW + 31 })))), "not_yet_valid");
    assert.equal(await reason(verifier.verify(await sign(k1, claims({ iat: NOW + 29 })))), "accepted");
  });

  test("an unknown kid triggers one refetch per interval, however many tokens carry it", async () => {
    const { verifier, issuer } = setup();
    await verifier.verify(await sign(k1));
    const forged = await sign(k2);
    for (let i = 0; i < 20; i++) assert.equal(await reason(verifier.verify(forged)), "unknown_key");
    assert.equal(issuer.jwksFetches, 2);
  });

  test("a rotated-in key is picked up without a new verifier", async () => {
    const { verifier, issuer } = setup({ minRefetchIntervalMs: 0 });
    await verifier.verify(await sign(k1));
    issuer.published = [k2, k1];
    const principal = await verifier.verify(await sign(k2));
    assert.equal(principal.username, "alice");
    assert.equal(issuer.jwksFetches, 2);
  });

  test("concurrent unknown kids share one fetch", async () => {
    const { verifier, issuer } = setup({ minRefetchIntervalMs: 0 });
    await verifier.verify(await sign(k1));
    issuer.published = [k1, k2];
    const token = await sign(k2);
    await Promise.all(Array.from({ length: 10 }, () => verifier.verify(token)));
    assert.equal(issuer.jwksFetches, 2);
  });

  test("keys unreachable with nothing cached is KeysUnavailableError, not a refusal", async () => {
    const { verifier, issuer } = setup();
    issuer.failing = true;
    await assert.rejects(verifier.verify(await sign(k1)), KeysUnavailableError);
  });

  test("a discovery document naming another issuer, or none, is refused before any JWKS fetch", async () => {
    for (const named of ["https://evil.example", undefined, 42]) {
      const requested: string[] = [];
      const fetch = async (url: string) => {
        requested.push(url);
        return url.endsWith("/openid-configuration")
          ? Response.json({ issuer: named, jwks_uri: `${ISSUER}/jwks` })
          : Response.json({ keys: [] });
      };
      const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch, now: () => NOW });
      await assert.rejects(verifier.verify(await sign(k1)), KeysUnavailableError, String(named));
      assert.deepEqual(requested, [`${ISSUER}/.well-known/openid-configuration`], String(named));
    }
  });

  test("a JWKS too large is refused after reading at most the limit, however long it goes on", async () => {
    const endless = endlessBody();
    const fetch = async (url: string) =>
      url.endsWith("/openid-configuration") ? Response.json({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` }) : new Response(endless.body);
    const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch, now: () => NOW });
    await assert.rejects(verifier.verify(await sign(k1)), KeysUnavailableError);
    assert.ok(endless.pulled() <= 6, `read ${endless.pulled()} chunks of 64 KiB`);
  });

  test("a JWKS whose body fails mid-read keeps the keys held, or is KeysUnavailableError", async () => {
    const issuer = new FakeIssuer([k1]);
    let broken = false;
    const fetch = async (url: string) => (broken && url.endsWith("/jwks") ? new Response(failingBody()) : issuer.fetch(url));
    let clock = 0;
    const jwks = new JwksCache({ issuer: ISSUER, fetch, clockMs: () => clock });
    const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks, now: () => NOW });
    await verifier.verify(await sign(k1));
    broken = true;
    clock += 400_000; // past maxAge: the refetch fails while reading the body
    assert.equal((await verifier.verify(await sign(k1))).username, "alice");
    assert.equal(jwks.fetches, 2);
    const fresh = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch, now: () => NOW });
    await assert.rejects(fresh.verify(await sign(k1)), KeysUnavailableError);
  });

  test("a leeway above 300 s and an insecure issuer are refused at construction", () => {
    assert.throws(() => createVerifier({ issuer: ISSUER, audience: AUDIENCE, leeway: 301 }), RangeError);
    assert.throws(() => createVerifier({ issuer: "http://issuer.test", audience: AUDIENCE }), InsecureUrlError);
    assert.throws(() => createVerifier({ issuer: "http://localhost:8000", audience: AUDIENCE }), InsecureUrlError);
    createVerifier({ issuer: "http://127.0.0.1:8000", audience: AUDIENCE });
  });
});

describe("scopes", () => {
  test("api_admin implies exactly the built-in scopes", () => {
    const admin = { scopes: ["api_admin"] };
    for (const scope of ["profile", "users:read", "users:write", "objects:read", "objects:write"]) assert.ok(hasScope(admin, scope));
    assert.ok(!hasScope(admin, "billing:read"));
    assert.throws(() => requireScopes(admin, "billing:read"), InsufficientScopeError);
    requireScopes({ scopes: ["billing:read"] }, "billing:read");
  });
});

describe("personal sign-in", () => {
  const principal = (amr: string[], client_id: string | null, via_gateway = false) =>
    ({ amr, client_id, via_gateway }) as unknown as Parameters<typeof isPersonalSignIn>[0];

  test("a password, a passkey or a trusted identity provider's sign-in, with no third-party app", () => {
    assert.ok(isPersonalSignIn(principal(["pwd"], null)));
    assert.ok(isPersonalSignIn(principal(["fed"], null)));
    assert.ok(isPersonalSignIn(principal(["fed", "hwk"], "micro-cli")));
    assert.ok(isPersonalSignIn(principal(["hwk", "user"], null)));
    assert.ok(isPersonalSignIn(principal(["swk", "user"], "micro-cli")));
    assert.ok(!isPersonalSignIn(principal(["hwk", "user"], "app-1")));
    assert.ok(!isPersonalSignIn(principal(["swk"], null, true)));
    assert.ok(!isPersonalSignIn(principal(["otp", "user", "mfa"], null)));
    assert.ok(!isPersonalSignIn(principal(["fed"], "app-1")));
    assert.ok(!isPersonalSignIn(principal(["api_key"], null)));
    assert.ok(!isPersonalSignIn(principal([], null)));
    assert.ok(!isPersonalSignIn(principal(["fed"], null, true)));
  });
});
