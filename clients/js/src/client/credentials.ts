/** Where the client's bearer token comes from: an API key exchanged for short-lived access
 * tokens, an OAuth client's client-credentials grant, or a fixed token. */
import { errorFromResponse, MicroApiError } from "./errors.js";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

export interface CredentialContext {
  baseUrl: string;
  fetch: FetchLike;
}

export interface CredentialSource {
  /** A bearer token valid now. */
  token(context: CredentialContext): Promise<string>;
  /** The service refused `token` (a 401): forget it, so the next call obtains another. A
   * token already replaced is left alone (without `token`, whatever is cached is forgotten). */
  invalidate?(token?: string): void;
}

export interface RefreshingOptions {
  /** Obtain a new token this long before the current one expires (default 60 s, at most
   * half the token's lifetime). */
  refreshBeforeMs?: number;
  /** A clock in ms (tests set it). */
  clockMs?: () => number;
}

interface Issued {
  accessToken: string;
  expiresInSeconds: number;
}

/** A token cached until shortly before its expiry, with one request for a new one in flight
 * however many callers need it at once. */
function refreshing(obtain: (context: CredentialContext) => Promise<Issued>, options: RefreshingOptions): CredentialSource {
  const clockMs = options.clockMs ?? (() => Date.now());
  let current: { token: string; refreshAt: number } | undefined;
  let inflight: Promise<string> | undefined;
  return {
    async token(context) {
      if (current !== undefined && clockMs() < current.refreshAt) return current.token;
      inflight ??= obtain(context)
        .then((issued) => {
          const lifetime = issued.expiresInSeconds * 1000;
          const early = Math.min(options.refreshBeforeMs ?? 60_000, lifetime / 2);
          current = { token: issued.accessToken, refreshAt: clockMs() + lifetime - early };
          return issued.accessToken;
        })
        .finally(() => (inflight = undefined));
      return inflight;
    },
    invalidate(token?: string) {
      // A request that left with an older token must not throw away the one that replaced it.
      if (token === undefined || current?.token === token) current = undefined;
    },
  };
}

/** POSTs a credential for a token. A redirect is not followed: it would carry the API key
 * (`X-API-Key` is not dropped across origins) or the client secret to wherever it points. */
async function postForToken(context: CredentialContext, path: string, init: RequestInit): Promise<Issued> {
  const response = await context.fetch(context.baseUrl + path, { ...init, method: "POST", redirect: "manual" });
  if (!response.ok) throw await errorFromResponse(response);
  const body: unknown = await response.json().catch(() => undefined);
  const { access_token: accessToken, expires_in: expiresIn } = (body ?? {}) as Record<string, unknown>;
  if (typeof accessToken !== "string" || accessToken === "" || typeof expiresIn !== "number" || !(expiresIn > 0)) {
    throw new MicroApiError(response.status, {
      code: "unexpected_response",
      title: "Unexpected token answer",
      detail: "The token answer has no access_token and expires_in.",
    });
  }
  return { accessToken, expiresInSeconds: expiresIn };
}

/** An API key (`mk_…`), exchanged at `POST /api/v1/auth/token/exchange` for short-lived
 * access tokens, refreshed before they expire. `resource` asks for a token for one service. */
export function apiKey(key: string, options: RefreshingOptions & { resource?: string } = {}): CredentialSource {
  const body = options.resource === undefined ? {} : { resource: options.resource };
  return refreshing(
    (context) =>
      postForToken(context, "/api/v1/auth/token/exchange", {
        headers: { "X-API-Key": key, "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      }),
    options,
  );
}

/** A confidential OAuth client's client-credentials grant at `POST /o/token/`. */
export function clientCredentials(
  options: RefreshingOptions & { clientId: string; clientSecret: string; scope?: string; resource?: string },
): CredentialSource {
  const form = (value: string) => encodeURIComponent(value).replace(/%20/g, "+");
  const authorization = "Basic " + btoa(`${form(options.clientId)}:${form(options.clientSecret)}`);
  return refreshing((context) => {
    const body = new URLSearchParams({ grant_type: "client_credentials" });
    if (options.scope !== undefined) body.set("scope", options.scope);
    if (options.resource !== undefined) body.set("resource", options.resource);
    return postForToken(context, "/o/token/", { headers: { Authorization: authorization, Accept: "application/json" }, body });
  }, options);
}

/** A fixed bearer token (e.g. from a sign-in); it is never refreshed. */
export function token(value: string): CredentialSource {
  return { token: async () => value };
}
