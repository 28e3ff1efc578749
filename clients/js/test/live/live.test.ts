/** Live tests against a running Micro server (tests/clients/live_server.py sets the
 * MICRO_LIVE_* variables); skipped when MICRO_LIVE_URL is unset. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { before, describe, test } from "node:test";

import { apiKey, createClient, MicroApiError, paginate, token as fixedToken } from "../../src/client/index.js";
import { createIntrospector, createVerifier, decodeKid } from "../support/live.js";

const env = process.env;
const url = env["MICRO_LIVE_URL"];

describe("live: the SDK against a running server", { skip: url ? false : "MICRO_LIVE_URL is unset" }, () => {
  if (!url) return;
  const baseUrl = url.replace(/\/+$/, "");
  const audience = env["MICRO_LIVE_AUDIENCE"] ?? "micro";
  const verifier = createVerifier({ issuer: baseUrl, audience, minRefetchIntervalMs: 0 });
  const admin = createClient({ baseUrl, credentials: apiKey(env["MICRO_LIVE_ADMIN_API_KEY"] ?? "") });
  let userToken = "";
  let userId = "";

  before(async () => {
    const response = await fetch(`${baseUrl}/api/v1/auth/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: env["MICRO_LIVE_USERNAME"], password: env["MICRO_LIVE_PASSWORD"] }),
    });
    assert.equal(response.status, 200, "password sign-in");
    userToken = ((await response.json()) as { access_token: string }).access_token;
    userId = (await verifier.verify(userToken)).user_id;
  });

  test("a signed-in user's token verifies with the expected principal", async () => {
    const principal = await verifier.verify(userToken);
    assert.equal(principal.username, env["MICRO_LIVE_USERNAME"]);
    assert.ok(principal.scopes.includes("users:read"));
    assert.ok(principal.amr.includes("pwd"));
  });

  test("a minted API key is exchanged for a token that verifies", async () => {
    const me = createClient({ baseUrl, credentials: fixedToken(userToken) });
    const minted = await me.apiKeys.mint({ name: `js-live-${Date.now()}`, scopes: ["users:read"] });
    const viaKey = createClient({ baseUrl, credentials: apiKey(minted.key) });
    const users = await viaKey.users.batchRead([userId]);
    assert.equal(users[0]?.id, userId);
    await me.apiKeys.revoke(minted.id);
  });

  test("read a user, a batch (twice, through the ETag cache) and by username", async () => {
    const statuses: number[] = [];
    const fetch = async (input: string, init?: RequestInit) => {
      const response = await globalThis.fetch(input, init);
      statuses.push(response.status);
      return response;
    };
    const client = createClient({ baseUrl, credentials: fixedToken(userToken), fetch });
    assert.equal((await client.users.read(userId)).id, userId);
    const first = await client.users.batchRead([userId]);
    assert.deepEqual(await client.users.batchRead([userId]), first);
    assert.equal(statuses.at(-1), 304, "the repeated batch read was answered Not Modified");
    assert.equal((await client.users.byUsername(env["MICRO_LIVE_USERNAME"] ?? ""))?.id, userId);
    assert.equal(((await client.user.read({ id: userId })) as { user?: { id: string } }).user?.id ?? userId, userId);
  });

  test("grant access to an object and check it", async () => {
    const client = createClient({ baseUrl, credentials: fixedToken(userToken) });
    const object = await client.objects.create({ name: `js-live-${Date.now()}` });
    const adminPrincipal = await createVerifier({ issuer: baseUrl, audience }).verify(
      await (await import("../support/live.js")).exchange(baseUrl, env["MICRO_LIVE_ADMIN_API_KEY"] ?? ""),
    );
    // The service account checks its own access (no subject: the caller).
    const check = { object_type: "object", object_id: object.id, permission: "read" as const };
    assert.equal(await admin.access.check(check), false);
    const grant = await client.access.grant({ object_type: "object", object_id: object.id, subject_type: "user", subject_id: adminPrincipal.user_id, read: true });
    assert.equal(await admin.access.check(check), true);
    await client.access.revoke(grant.id);
    assert.equal(await admin.access.check(check), false);
  });

  test("a signing-key rotation is picked up without a new verifier", async () => {
    const before = await admin.users.read(userId);
    assert.equal(before.id, userId);
    const oldKid = decodeKid(userToken);
    execFileSync(env["MICRO_LIVE_ROTATE"] ?? "false", [], { stdio: "inherit" });
    // Each server process re-reads its signing keys every few seconds: sign in until the
    // new key signs.
    const { signIn } = await import("../support/live.js");
    let fresh = "";
    for (let attempt = 0; attempt < 90; attempt++) {
      fresh = await signIn(baseUrl, env["MICRO_LIVE_USERNAME"] ?? "", env["MICRO_LIVE_PASSWORD"] ?? "");
      if (decodeKid(fresh) !== oldKid) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.notEqual(decodeKid(fresh), oldKid, "the new token is signed by the new key");
    assert.equal((await verifier.verify(fresh)).user_id, userId);
    assert.equal((await verifier.verify(userToken)).user_id, userId, "the retired key still verifies its tokens");
  });

  test("a revoked token is refused through introspection", async () => {
    const { signIn } = await import("../support/live.js");
    const token = await signIn(baseUrl, env["MICRO_LIVE_USERNAME"] ?? "", env["MICRO_LIVE_PASSWORD"] ?? "");
    const introspector = createIntrospector({ issuer: baseUrl, clientId: env["MICRO_LIVE_CLIENT_ID"] ?? "", clientSecret: env["MICRO_LIVE_CLIENT_SECRET"] ?? "", cacheTtlMs: 0 });
    assert.equal(await introspector.isActive(token), true);
    const revoked = await fetch(`${baseUrl}/api/v1/auth/token/revoke`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token }),
    });
    assert.equal(revoked.status, 200);
    assert.equal(await introspector.isActive(token), false);
    await verifier.verify(token); // offline verification cannot see the revocation
  });

  test("paginate walks every page of a list", async () => {
    const seen = new Set<string>();
    for await (const user of paginate(admin.users.list, { page_size: 1 })) seen.add(user.id);
    assert.ok(seen.has(userId), "the signed-in user is on some page");
    assert.ok(seen.size >= 2, "more than one page was read");
  });

  test("a refusal is a MicroApiError with the problem's code", async () => {
    const client = createClient({ baseUrl, credentials: fixedToken(userToken) });
    const error = await client.users.list().catch((caught: unknown) => caught);
    assert.ok(error instanceof MicroApiError);
    assert.equal(error.status, 403);
    assert.equal(error.code, "insufficient_scope");
  });
});
