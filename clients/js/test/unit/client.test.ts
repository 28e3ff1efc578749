import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, test } from "node:test";

import { apiKey, clientCredentials, createClient, MicroApiError, nextCursor, paginate, token } from "../../src/client/index.js";
import { InsecureUrlError } from "../../src/verifier/index.js";

const BASE = "https://micro.test";
const USER = { id: "6f1c2f0e-8a55-4d7c-9a59-1d8b1f0b7c11", username: "alice", display_name: "", avatar_url: "", kind: "user", created_at: "2026-01-01T00:00:00Z" };

function recorder(handler: (url: string, init: RequestInit) => Response | Promise<Response>) {
  const calls: Array<{ url: string; headers: Headers; method: string }> = [];
  const fetch = async (url: string, init: RequestInit = {}) => {
    calls.push({ url, headers: new Headers(init.headers), method: init.method ?? "GET" });
    return handler(url, init);
  };
  return { calls, fetch };
}

describe("credentials", () => {
  test("an API key is exchanged once, reused, and refreshed before expiry", async () => {
    let now = 0;
    let issued = 0;
    const { calls, fetch } = recorder(async (url) => {
      if (url.endsWith("/api/v1/auth/token/exchange")) {
        issued += 1;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return Response.json({ access_token: `t${issued}`, token_type: "Bearer", expires_in: 600, scope: "profile" });
      }
      return Response.json(USER);
    });
    const client = createClient({ baseUrl: BASE, credentials: apiKey("mk_x_y", { clockMs: () => now }), fetch, etagCacheSize: 0 });
    await Promise.all([client.users.read(USER.id), client.users.read(USER.id), client.users.read(USER.id)]);
    assert.equal(issued, 1, "one exchange in flight for concurrent calls");
    const exchange = calls.find((call) => call.url.endsWith("/exchange"));
    assert.equal(exchange?.headers.get("x-api-key"), "mk_x_y");
    now = 539_000;
    await client.users.read(USER.id);
    assert.equal(issued, 1);
    now = 541_000; // within 60 s of expiry
    await client.users.read(USER.id);
    assert.equal(issued, 2);
    assert.equal(calls.at(-1)?.headers.get("authorization"), "Bearer t2");
  });
});

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("a refused token", () => {
  test("a 401 renews the token and sends the request once more", async () => {
    let issued = 0;
    const { calls, fetch } = recorder((url, init) => {
      if (url.endsWith("/exchange")) return Response.json({ access_token: `t${++issued}`, expires_in: 600 });
      if (new Headers(init.headers).get("authorization") === "Bearer t1") return Response.json({ code: "not_authenticated" }, { status: 401 });
      return Response.json(USER);
    });
    const client = createClient({ baseUrl: BASE, credentials: apiKey("mk_x_y"), fetch, etagCacheSize: 0 });
    assert.deepEqual(await client.users.read(USER.id), USER);
    assert.equal(issued, 2);
    assert.deepEqual(calls.map((call) => call.headers.get("authorization")), [null, "Bearer t1", null, "Bearer t2"]);
  });

  test("a fixed token refused is a MicroApiError, sent once", async () => {
    const { calls, fetch } = recorder(() => Response.json({ code: "not_authenticated" }, { status: 401 }));
    const client = createClient({ baseUrl: BASE, credentials: token("t"), fetch });
    const error = await client.users.read(USER.id).catch((caught: unknown) => caught);
    assert.ok(error instanceof MicroApiError);
    assert.equal(error.code, "not_authenticated");
    assert.equal(calls.length, 1);
  });

  test("a 401 for a token already replaced does not drop its replacement", async () => {
    let now = 0;
    let issued = 0;
    const { fetch } = recorder(() => Response.json({ access_token: `t${++issued}`, expires_in: 600 }));
    const source = apiKey("mk_x_y", { clockMs: () => now });
    const context = { baseUrl: BASE, fetch };
    assert.equal(await source.token(context), "t1");
    now = 590_000;
    assert.equal(await source.token(context), "t2");
    source.invalidate?.("t1");
    assert.equal(await source.token(context), "t2");
    source.invalidate?.("t2");
    assert.equal(await source.token(context), "t3");
  });

  test("a token answer without access_token and expires_in is a MicroApiError", async () => {
    for (const answer of [{}, { access_token: "t", expires_in: "600" }, { access_token: "", expires_in: 600 }]) {
      const { calls, fetch } = recorder((url) => (url.endsWith("/exchange") ? Response.json(answer) : Response.json(USER)));
      const client = createClient({ baseUrl: BASE, credentials: apiKey("mk_x_y"), fetch });
      const error = await client.users.read(USER.id).catch((caught: unknown) => caught);
      assert.ok(error instanceof MicroApiError, JSON.stringify(answer));
      assert.equal(error.code, "unexpected_response");
      assert.equal(calls.length, 1, "no request left with a broken token");
    }
  });
});

describe("credentials over redirects", () => {
  for (const [name, credentials] of [
    ["an API key", apiKey("mk_secret_key")],
    ["a client secret", clientCredentials({ clientId: "svc", clientSecret: "s3cret" })],
  ] as const) {
    test(`${name} is not sent on to where a redirect of the token request points`, async () => {
      const seen: IncomingHttpHeaders[] = [];
      const elsewhere = createServer((req, res) => {
        seen.push(req.headers);
        res.writeHead(200, { "Content-Type": "application/json" }).end('{"access_token":"t","expires_in":600}');
      });
      const target = await listen(elsewhere);
      const micro = createServer((req, res) => res.writeHead(307, { Location: target + (req.url ?? "/") }).end());
      const base = await listen(micro);
      try {
        const client = createClient({ baseUrl: base, credentials, etagCacheSize: 0 });
        const error = await client.users.read(USER.id).catch((caught: unknown) => caught);
        assert.ok(error instanceof MicroApiError, String(error));
        assert.equal(error.status, 307);
        assert.deepEqual(seen, [], "nothing reached the other origin");
      } finally {
        micro.close();
        elsewhere.close();
      }
    });
  }
});

describe("ETag cache", () => {
  test("a repeated read sends If-None-Match and reuses the body on 304", async () => {
    const { calls, fetch } = recorder((_url, init) => {
      if (new Headers(init.headers).get("if-none-match") === '"v1"') return new Response(null, { status: 304 });
      return Response.json({ results: [USER] }, { headers: { ETag: '"v1"' } });
    });
    const client = createClient({ baseUrl: BASE, fetch });
    assert.deepEqual(await client.users.batchRead([USER.id]), [USER]);
    assert.deepEqual(await client.users.batchRead([USER.id]), [USER]);
    assert.equal(calls.length, 2);
    assert.equal(calls[1]?.headers.get("if-none-match"), '"v1"');
    assert.match(calls[0]?.url ?? "", /\/api\/v1\/users\?ids=/);
  });
});

describe("errors and RPC", () => {
  test("a problem answer becomes a MicroApiError with its code", async () => {
    const { fetch } = recorder(() =>
      Response.json({ type: "urn:micro:problem:not_found", title: "Not found", status: 404, detail: "No such user.", code: "not_found" }, { status: 404, headers: { "Content-Type": "application/problem+json" } }),
    );
    const client = createClient({ baseUrl: BASE, fetch });
    const error = await client.users.read(USER.id).catch((caught: unknown) => caught);
    assert.ok(error instanceof MicroApiError);
    assert.equal(error.status, 404);
    assert.equal(error.code, "not_found");
    assert.equal(error.detail, "No such user.");
  });

  test("user.read posts to the RPC facade", async () => {
    const { calls, fetch } = recorder(() => Response.json({ user: USER }));
    const client = createClient({ baseUrl: BASE, fetch });
    assert.deepEqual(await client.user.read({ id: USER.id }), { user: USER });
    assert.equal(calls[0]?.url, `${BASE}/user/read`);
    assert.equal(calls[0]?.method, "POST");
  });
});

describe("base URL", () => {
  test("credentials are never sent over plain http to a host name or a network address", () => {
    for (const baseUrl of ["http://micro.test", "http://localhost:8000", "http://10.0.0.5", "ftp://micro.test", "not a url"]) {
      assert.throws(() => createClient({ baseUrl, credentials: apiKey("mk_x_y") }), InsecureUrlError, baseUrl);
    }
    createClient({ baseUrl: "http://127.0.0.1:8000", credentials: apiKey("mk_x_y") });
    createClient({ baseUrl: "http://[::1]:8000/" });
  });

  test("plain http to any host only when the caller opts in", async () => {
    const { calls, fetch } = recorder(() => Response.json(USER));
    const client = createClient({ baseUrl: "http://micro.internal:8000/", fetch, allowInsecureHttp: true });
    await client.users.read(USER.id);
    assert.equal(calls[0]?.url, `http://micro.internal:8000/api/v1/users/${USER.id}`);
    assert.throws(() => createClient({ baseUrl: "ftp://micro.test", allowInsecureHttp: true }), InsecureUrlError);
  });
});

describe("pagination", () => {
  test("paginate follows each page's cursor to the last page, on the client's own base URL", async () => {
    const pages: Record<string, unknown> = {
      "": { next: "https://elsewhere.test/api/v1/objects?cursor=c2&page_size=2", previous: null, results: [{ id: "a" }, { id: "b" }] },
      c2: { next: "https://elsewhere.test/api/v1/objects?cursor=c3&page_size=2", previous: null, results: [{ id: "c" }] },
      c3: { next: null, previous: null, results: [] },
    };
    const { calls, fetch } = recorder((url) => Response.json(pages[new URL(url).searchParams.get("cursor") ?? ""]));
    const client = createClient({ baseUrl: BASE, fetch });
    const ids: string[] = [];
    for await (const object of paginate(client.objects.list, { page_size: 2 })) ids.push(object.id);
    assert.deepEqual(ids, ["a", "b", "c"]);
    assert.deepEqual(calls.map((call) => call.url), [
      `${BASE}/api/v1/objects?page_size=2`,
      `${BASE}/api/v1/objects?page_size=2&cursor=c2`,
      `${BASE}/api/v1/objects?page_size=2&cursor=c3`,
    ]);
    assert.equal(nextCursor({ next: null }), undefined);
  });
});
