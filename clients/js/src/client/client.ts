/** A typed client of the Micro REST API and its RPC facade (`/user/<method>`), built on
 * openapi-fetch over the types generated from clients/openapi.json. */
import createFetchClient, { type Client } from "openapi-fetch";

import type { components, paths } from "../schema.js";
import { InsecureUrlError } from "../verifier/errors.js";
import { requireSecureUrl } from "../verifier/jwks.js";
import { type CredentialSource, type FetchLike } from "./credentials.js";
import { errorFromResponse, MicroApiError } from "./errors.js";
import type { Page } from "./pages.js";

type Schemas = components["schemas"];

/** The RPC facade's methods, each its own operation in the schema (`POST /user/<lowercase>`). */
export type RpcMethod =
  | "read" | "create" | "update" | "delete" | "list" | "login" | "logout" | "readSession"
  | "verifyToken" | "updatePassword" | "sendVerificationEmail" | "verifyEmail"
  | "sendPasswordResetEmail" | "resetPassword";
type RpcPath = `/user/${Lowercase<RpcMethod>}` & keyof paths;
type RpcOperation<M extends RpcMethod> = paths[`/user/${Lowercase<M>}` & keyof paths]["post"];
/** The JSON body of an RPC method, as the schema states it. */
export type RpcBody<M extends RpcMethod> =
  RpcOperation<M> extends { requestBody?: { content: { "application/json": infer B } } } ? B : never;
/** The JSON answer of an RPC method, as the schema states it. */
export type RpcAnswer<M extends RpcMethod> =
  RpcOperation<M> extends { responses: { 200: { content: { "application/json": infer A } } } } ? A : unknown;
type Query<P extends keyof paths> = paths[P] extends { get: { parameters: { query?: infer Q } } } ? Q : never;
export type UserPublic = Schemas["UserPublicOut"];

export interface ClientOptions {
  /** The service's base URL, e.g. https://id.example.com: https://, or http:// to a loopback
   * IP literal (127.0.0.1, [::1]); any other URL is an InsecureUrlError. */
  baseUrl: string;
  /** Accept a plain http:// base URL to any host, whose credentials anyone on the network
   * path can read (default false: only for a test network you trust). */
  allowInsecureHttp?: boolean;
  /** Where the bearer token comes from; anonymous calls when absent. */
  credentials?: CredentialSource;
  fetch?: FetchLike;
  /** Responses kept by the ETag cache of user reads (default 1000; 0 disables it). */
  etagCacheSize?: number;
}

interface Outcome<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** The data of a successful answer; MicroApiError with the problem's code otherwise. */
async function unwrap<T>(call: Promise<Outcome<T>>): Promise<T> {
  const { data, error, response } = await call;
  if (response.ok) return data as T;
  if (error !== undefined && typeof error === "object") {
    return Promise.reject(new MicroApiError(response.status, error));
  }
  return Promise.reject(new MicroApiError(response.status, error ?? ""));
}

/** A small LRU of ETag-tagged answers: a repeated read sends If-None-Match and reuses the
 * cached body on 304 Not Modified. */
class EtagCache {
  private readonly entries = new Map<string, { etag: string; data: unknown }>();
  constructor(private readonly size: number) {}

  get(key: string): { etag: string; data: unknown } | undefined {
    const entry = this.entries.get(key);
    if (entry !== undefined) {
      this.entries.delete(key);
      this.entries.set(key, entry);
    }
    return entry;
  }

  set(key: string, etag: string | null, data: unknown): void {
    this.entries.delete(key);
    if (etag === null || this.size <= 0) return;
    if (this.entries.size >= this.size) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, { etag, data });
  }
}

export type MicroClient = ReturnType<typeof createClient>;

/** The Micro API client: users, groups, apiKeys, access, objects, auditEvents, the RPC
 * facade `user`, and `raw` (the openapi-fetch client for any other operation). */
export function createClient(options: ClientOptions) {
  const baseUrl = checkedBaseUrl(options.baseUrl, options.allowInsecureHttp ?? false);
  const fetchFn: FetchLike = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const credentials = options.credentials;
  const etags = new EtagCache(options.etagCacheSize ?? 1000);

  // Every request carries the current token. A 401 drops that token and, when the source
  // gives another, the request is sent once more with it: a refused request did nothing.
  const authorizedFetch = async (request: Request): Promise<Response> => {
    const init = await requestInit(request);
    if (credentials === undefined || request.headers.has("Authorization")) return fetchFn(request.url, init);
    const context = { baseUrl, fetch: fetchFn };
    const send = (token: string) => {
      const headers = new Headers(init.headers);
      headers.set("Authorization", `Bearer ${token}`);
      return fetchFn(request.url, { ...init, headers });
    };
    const first = await credentials.token(context);
    const response = await send(first);
    if (response.status !== 401 || credentials.invalidate === undefined) return response;
    credentials.invalidate(first);
    const renewed = await credentials.token(context);
    if (renewed === first) return response;
    await response.body?.cancel();
    return send(renewed);
  };
  const raw: Client<paths> = createFetchClient<paths>({ baseUrl, fetch: authorizedFetch });

  /** GET through the ETag cache: If-None-Match with the tag held, the cached body on 304. */
  async function cachedGet<T>(key: string, call: (headers: Record<string, string>) => Promise<Outcome<T>>): Promise<T> {
    const held = etags.get(key);
    const outcome = await call(held === undefined ? {} : { "If-None-Match": held.etag });
    if (outcome.response.status === 304 && held !== undefined) return held.data as T;
    const data = await unwrap(Promise.resolve(outcome));
    etags.set(key, outcome.response.headers.get("ETag"), data);
    return data;
  }

  /** `POST /user/<method>` (the server takes the method's name in any letter case). */
  async function rpc<M extends RpcMethod>(method: M, body: RpcBody<M>): Promise<RpcAnswer<M>> {
    const path = `/user/${method.toLowerCase()}` as `/user/${Lowercase<M>}`;
    return unwrap(raw.POST(path as RpcPath, { body: body as never })) as Promise<RpcAnswer<M>>;
  }

  return {
    raw,
    users: {
      /** One user's public view (ETag-cached). */
      read: (userId: string) =>
        cachedGet(`user:${userId}`, (headers) =>
          raw.GET("/api/v1/users/{user_id}", { params: { path: { user_id: userId } }, headers }),
        ),
      /** Up to 100 users by id in one call (ETag-cached per id list). */
      batchRead: async (ids: readonly string[]): Promise<UserPublic[]> => {
        const joined = ids.join(",");
        const page = await cachedGet(`users:${joined}`, (headers) =>
          raw.GET("/api/v1/users", { params: { query: { ids: joined } }, headers }),
        );
        return page.results;
      },
      /** The user with this exact username (case-insensitive), or null. */
      byUsername: async (username: string): Promise<UserPublic | null> => {
        const page = await unwrap(raw.GET("/api/v1/users", { params: { query: { username } } }));
        return page.results[0] ?? null;
      },
      /** Every user, a page at a time (needs `users:write`). The schema gives this operation
       * the lookups' shape (`results` only); without `ids` or `username` the answer is a cursor
       * page of private views. */
      list: async (query: Pick<NonNullable<Query<"/api/v1/users">>, "cursor" | "page_size"> = {}) =>
        (await unwrap(raw.GET("/api/v1/users", { params: { query } }))) as unknown as Page<Schemas["UserPrivateOut"]>,
      create: (body: Schemas["UserCreateInRequest"]) => unwrap(raw.POST("/api/v1/users", { body })),
      update: (userId: string, body: Schemas["PatchedUserUpdateAdminInRequest"]) =>
        unwrap(raw.PATCH("/api/v1/users/{user_id}", { params: { path: { user_id: userId } }, body })),
      delete: (userId: string) =>
        unwrap(raw.DELETE("/api/v1/users/{user_id}", { params: { path: { user_id: userId } } })),
    },
    groups: {
      list: (query: NonNullable<Query<"/api/v1/groups">> = {}) => unwrap(raw.GET("/api/v1/groups", { params: { query } })),
      create: (body: Schemas["GroupInRequest"]) => unwrap(raw.POST("/api/v1/groups", { body })),
      addMember: (groupId: string, body: Schemas["MemberInRequest"]) =>
        unwrap(raw.POST("/api/v1/groups/{group_id}/members", { params: { path: { group_id: groupId } }, body })),
      removeMember: (groupId: string, userId: string) =>
        unwrap(
          raw.DELETE("/api/v1/groups/{group_id}/members/{user_id}", {
            params: { path: { group_id: groupId, user_id: userId } },
          }),
        ),
    },
    apiKeys: {
      list: (query: NonNullable<Query<"/api/v1/api-keys">> = {}) => unwrap(raw.GET("/api/v1/api-keys", { params: { query } })),
      /** A new key; its secret (`key`) is shown only in this answer. */
      mint: (body: Schemas["ApiKeyCreateInRequest"]) => unwrap(raw.POST("/api/v1/api-keys", { body })),
      rotate: (keyId: string, body: Schemas["ApiKeyRotateInRequest"]) =>
        unwrap(raw.POST("/api/v1/api-keys/{key_id}/rotate", { params: { path: { key_id: keyId } }, body })),
      revoke: (keyId: string) => unwrap(raw.DELETE("/api/v1/api-keys/{key_id}", { params: { path: { key_id: keyId } } })),
    },
    access: {
      grant: (body: Schemas["GrantInRequest"]) => unwrap(raw.POST("/api/v1/access", { body })),
      revoke: (grantId: string) =>
        unwrap(raw.DELETE("/api/v1/access/{grant_id}", { params: { path: { grant_id: grantId } } })),
      /** Whether the subject (default: the caller) has `permission` on the object. */
      check: async (body: Schemas["CheckInRequest"]): Promise<boolean> =>
        (await unwrap(raw.POST("/api/v1/access/check", { body }))).allowed,
      list: (query: NonNullable<Query<"/api/v1/access">> = {}) => unwrap(raw.GET("/api/v1/access", { params: { query } })),
    },
    objects: {
      list: (query: NonNullable<Query<"/api/v1/objects">> = {}) => unwrap(raw.GET("/api/v1/objects", { params: { query } })),
      create: (body: Schemas["ObjectCreateInRequest"]) => unwrap(raw.POST("/api/v1/objects", { body })),
      read: (objectId: string) =>
        unwrap(raw.GET("/api/v1/objects/{object_id}", { params: { path: { object_id: objectId } } })),
      update: (objectId: string, body: Schemas["PatchedObjectUpdateInRequest"]) =>
        unwrap(raw.PATCH("/api/v1/objects/{object_id}", { params: { path: { object_id: objectId } }, body })),
      delete: (objectId: string) =>
        unwrap(raw.DELETE("/api/v1/objects/{object_id}", { params: { path: { object_id: objectId } } })),
    },
    auditEvents: {
      list: (query: NonNullable<Query<"/api/v1/audit-events">> = {}) =>
        unwrap(raw.GET("/api/v1/audit-events", { params: { query } })),
    },
    /** The Micro-style RPC facade: `POST /user/<method>` with a JSON body. */
    user: {
      call: rpc,
      read: (body: RpcBody<"read">) => rpc("read", body),
      create: (body: RpcBody<"create">) => rpc("create", body),
      update: (body: RpcBody<"update">) => rpc("update", body),
      delete: (body: RpcBody<"delete">) => rpc("delete", body),
      list: (body: RpcBody<"list"> = {}) => rpc("list", body),
      login: (body: RpcBody<"login">) => rpc("login", body),
      logout: (body: RpcBody<"logout">) => rpc("logout", body),
      readSession: (body: RpcBody<"readSession">) => rpc("readSession", body),
      verifyToken: (body: RpcBody<"verifyToken">) => rpc("verifyToken", body),
      updatePassword: (body: RpcBody<"updatePassword">) => rpc("updatePassword", body),
      sendVerificationEmail: (body: RpcBody<"sendVerificationEmail">) => rpc("sendVerificationEmail", body),
      verifyEmail: (body: RpcBody<"verifyEmail">) => rpc("verifyEmail", body),
      sendPasswordResetEmail: (body: RpcBody<"sendPasswordResetEmail">) => rpc("sendPasswordResetEmail", body),
      resetPassword: (body: RpcBody<"resetPassword">) => rpc("resetPassword", body),
    },
  };
}

/** The base URL without a trailing slash, once credentials may be sent to it: https://, or
 * http:// to a loopback IP literal; any http(s) URL when the caller allows plain http. */
function checkedBaseUrl(baseUrl: string, allowInsecureHttp: boolean): string {
  const url = baseUrl.replace(/\/+$/, "");
  if (!allowInsecureHttp) return requireSecureUrl(url, "the API's base URL");
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // reported below
  }
  if ((parsed?.protocol === "https:" || parsed?.protocol === "http:") && parsed.hostname) return url;
  throw new InsecureUrlError(`the API's base URL must be an http(s) URL: ${url}`);
}

async function requestInit(request: Request): Promise<RequestInit> {
  const body = request.body === null ? undefined : await request.arrayBuffer();
  return { method: request.method, headers: request.headers, body, redirect: "manual", signal: request.signal };
}

export { errorFromResponse };
