import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createIntrospector, InsecureUrlError, IntrospectionError } from "../../src/verifier/index.js";
import { endlessBody } from "../support/streams.js";

const ISSUER = "https://issuer.test";

function issuer(answer: (body: URLSearchParams) => Response | Promise<Response>) {
  const calls: Array<{ url: string; headers: Headers; body: URLSearchParams; redirect: RequestRedirect | undefined }> = [];
  const fetch = async (url: string, init: RequestInit = {}) => {
    const body = new URLSearchParams(init.body as URLSearchParams);
    calls.push({ url, headers: new Headers(init.headers), body, redirect: init.redirect });
    return answer(body);
  };
  return { calls, fetch };
}

describe("introspection", () => {
  test("asks with HTTP Basic (form-encoded id and secret), the token and, for upstream, its hint", async () => {
    const { calls, fetch } = issuer(() => Response.json({ active: true }));
    const introspector = createIntrospector({ issuer: ISSUER + "/", clientId: "svc one", clientSecret: "s:e/c", fetch });
    assert.equal(await introspector.isActive("tok-a"), true);
    assert.equal(await introspector.isActive("tok-a", { upstream: true }), true);
    assert.equal(calls[0]?.url, `${ISSUER}/o/introspect/`);
    assert.equal(calls[0]?.headers.get("authorization"), "Basic " + btoa("svc+one:s%3Ae%2Fc"));
    assert.equal(calls[0]?.redirect, "error");
    assert.equal(calls[0]?.body.get("token"), "tok-a");
    assert.equal(calls[0]?.body.get("token_type_hint"), null);
    assert.equal(calls[1]?.body.get("token_type_hint"), "upstream_token");
  });

  test("answers are cached per token and kind for the TTL, never beyond the token's exp", async () => {
    let now = 1_900_000_000_000;
    const { calls, fetch } = issuer((body) => Response.json({ active: true, exp: body.get("token") === "short" ? now / 1000 + 2 : now / 1000 + 600 }));
    const introspector = createIntrospector({ issuer: ISSUER, clientId: "svc", clientSecret: "s", fetch, clockMs: () => now });
    await introspector.introspect("tok-a");
    await introspector.introspect("tok-a");
    assert.equal(calls.length, 1);
    await introspector.introspect("tok-b");
    await introspector.introspect("tok-a", { upstream: true });
    assert.equal(calls.length, 3);
    await introspector.introspect("short");
    now += 3_000;
    await introspector.introspect("short");
    await introspector.introspect("tok-a");
    assert.equal(calls.length, 5, "short re-asked after its exp, tok-a still cached");
    now += 3_000;
    await introspector.introspect("tok-a");
    assert.equal(calls.length, 6, "tok-a re-asked after the 5 s TTL");
  });

  test("a refusal or an unreadable answer is an IntrospectionError and is never cached", async () => {
    const answers: Array<() => Response> = [
      () => new Response("oops", { status: 500 }),
      () => new Response("<html>not json</html>", { status: 200 }),
      () => Response.json({ active: "true" }),
      () => Response.json(null),
      () => Response.json({ active: true }),
    ];
    let index = 0;
    const { calls, fetch } = issuer(() => (answers[index++] as () => Response)());
    const introspector = createIntrospector({ issuer: ISSUER, clientId: "svc", clientSecret: "s", fetch });
    for (let i = 0; i < 4; i++) await assert.rejects(introspector.isActive("tok"), IntrospectionError);
    assert.equal(await introspector.isActive("tok"), true);
    assert.equal(calls.length, 5);
  });

  test("an answer too large is refused after reading at most the limit", async () => {
    const endless = endlessBody();
    const { fetch } = issuer(() => new Response(endless.body));
    const introspector = createIntrospector({ issuer: ISSUER, clientId: "svc", clientSecret: "s", fetch });
    await assert.rejects(introspector.isActive("tok"), IntrospectionError);
    assert.ok(endless.pulled() <= 6, `read ${endless.pulled()} chunks of 64 KiB`);
  });

  test("an insecure issuer is refused at construction", () => {
    assert.throws(() => createIntrospector({ issuer: "http://issuer.test", clientId: "svc", clientSecret: "s" }), InsecureUrlError);
  });
});
