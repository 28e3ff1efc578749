import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";

import express from "express";
import Fastify from "fastify";

import * as ex from "../../src/express.js";
import * as fa from "../../src/fastify.js";
import { createVerifier } from "../../src/verifier/index.js";
import { AUDIENCE, claims, FakeIssuer, ISSUER, makeKey, NOW, sign, type TestKey } from "../support/issuer.js";

let key: TestKey;
let good: string;
let admin: string;
const bases: Record<string, string> = {};
const closers: Array<() => Promise<unknown>> = [];

before(async () => {
  key = await makeKey("k1");
  good = await sign(key, claims({ scope: "profile users:read" }));
  admin = await sign(key, claims({ scope: "api_admin" }));
  const verifier = createVerifier({ issuer: ISSUER, audience: AUDIENCE, fetch: new FakeIssuer([key]).fetch, now: () => NOW });

  const app = express();
  app.get("/me", ex.microAuth({ verifier }), (req, res) => void res.json({ user: req.micro?.username }));
  app.get("/billing", ex.microAuth({ verifier }), ex.requireScopes("billing:read"), (_req, res) => void res.json({}));
  app.get("/write", ex.microAuth({ verifier }), ex.requireScopes("users:write"), (_req, res) => void res.json({ ok: true }));
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  bases["express"] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  closers.push(() => new Promise((resolve) => server.close(resolve)));

  const fastify = Fastify();
  await fastify.register(async (scope) => {
    await scope.register(fa.microAuth, { verifier });
    scope.get("/me", async (request) => ({ user: request.micro?.username }));
    scope.get("/billing", { preHandler: fa.requireScopes("billing:read") }, async () => ({}));
    scope.get("/write", { preHandler: fa.requireScopes("users:write") }, async () => ({ ok: true }));
  });
  bases["fastify"] = await fastify.listen({ port: 0, host: "127.0.0.1" });
  closers.push(() => fastify.close());
});

after(async () => {
  await Promise.all(closers.map((close) => close()));
});

for (const framework of ["express", "fastify"]) {
  describe(`${framework} middleware`, () => {
    const get = (path: string, token?: string) =>
      fetch(bases[framework] + path, { headers: token === undefined ? {} : { Authorization: `Bearer ${token}` } });

    test("a valid token reaches the handler with the principal attached", async () => {
      const response = await get("/me", good);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { user: "alice" });
    });

    test("no token is a 401 problem with a bare Bearer challenge", async () => {
      const response = await get("/me");
      assert.equal(response.status, 401);
      assert.equal(response.headers.get("content-type")?.split(";")[0], "application/problem+json");
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="api"');
      assert.equal(((await response.json()) as { code: string }).code, "not_authenticated");
    });

    test("an invalid token is a 401 invalid_token problem", async () => {
      const response = await get("/me", await sign(key, claims({ exp: NOW - 100 })));
      assert.equal(response.status, 401);
      assert.match(response.headers.get("www-authenticate") ?? "", /^Bearer realm="api", error="invalid_token"/);
      const body = (await response.json()) as { code: string; status: number };
      assert.equal(body.code, "invalid_token");
      assert.equal(body.status, 401);
    });

    test("a missing scope is a 403 insufficient_scope problem naming the scope", async () => {
      const response = await get("/billing", admin);
      assert.equal(response.status, 403);
      assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="api", error="insufficient_scope", scope="billing:read"');
      assert.equal(((await response.json()) as { code: string }).code, "insufficient_scope");
    });

    test("api_admin implies users:write", async () => {
      assert.equal((await get("/write", admin)).status, 200);
      assert.equal((await get("/write", good)).status, 403);
    });
  });
}
