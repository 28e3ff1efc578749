import { MAX_DOCUMENT_BYTES, readBounded, requireSecureUrl, type FetchLike } from "./jwks.js";

export interface IntrospectionOptions {
  /** The issuer's URL; the endpoint is `{issuer}/o/introspect/`. */
  issuer: string;
  /** A confidential OAuth client allowed to introspect (HTTP Basic). */
  clientId: string;
  clientSecret: string;
  /** How long an answer is reused, in ms (default 5 s; 0 disables the cache). */
  cacheTtlMs?: number;
  /** Entries the cache holds at most (default 10 000). */
  maxEntries?: number;
  fetch?: FetchLike;
  clockMs?: () => number;
  timeoutMs?: number;
}

/** RFC 7662's answer; `active: false` for a revoked, expired or unknown token. */
export interface IntrospectionResult {
  active: boolean;
  [claim: string]: unknown;
}

export interface IntrospectOptions {
  /** Introspect the gateway's upstream token (`token_type_hint=upstream_token`). */
  upstream?: boolean;
}

export interface Introspector {
  /** The issuer's current answer for `token` (cached for a few seconds). */
  introspect(token: string, options?: IntrospectOptions): Promise<IntrospectionResult>;
  /** Whether the issuer still considers `token` active. */
  isActive(token: string, options?: IntrospectOptions): Promise<boolean>;
}

/** The introspection endpoint could not answer: the token's revocation state is unknown. */
export class IntrospectionError extends Error {
  override readonly name = "IntrospectionError";
  readonly status: number | undefined;

  constructor(message: string, status?: number, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
  }
}

/** A client of the issuer's token introspection (`POST /o/introspect/`, RFC 7662), for the
 * online check offline verification cannot make: a revoked token is refused at once. Answers
 * are cached for `cacheTtlMs`, keyed by a SHA-256 of the token (never the token itself), and
 * never beyond the token's own `exp`. */
export function createIntrospector(options: IntrospectionOptions): Introspector {
  const endpoint = requireSecureUrl(options.issuer.replace(/\/+$/, "") + "/o/introspect/");
  const fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
  const ttl = options.cacheTtlMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const clockMs = options.clockMs ?? (() => Date.now());
  const authorization =
    "Basic " + btoa(`${formEncode(options.clientId)}:${formEncode(options.clientSecret)}`);
  const cache = new Map<string, { result: IntrospectionResult; until: number }>();

  async function introspect(token: string, opts: IntrospectOptions = {}): Promise<IntrospectionResult> {
    const key = (opts.upstream ? "u:" : "a:") + (await sha256(token));
    const now = clockMs();
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > now) return hit.result;
    cache.delete(key);
    const body = new URLSearchParams({ token });
    if (opts.upstream) body.set("token_type_hint", "upstream_token");
    let response: Response;
    try {
      response = await fetchFn(endpoint, {
        method: "POST",
        headers: { Authorization: authorization, Accept: "application/json" },
        body,
        redirect: "error",
        signal: AbortSignal.timeout(options.timeoutMs ?? 5_000),
      });
    } catch (error) {
      throw new IntrospectionError(`cannot reach ${endpoint}`, undefined, { cause: error });
    }
    if (!response.ok) throw new IntrospectionError(`${endpoint} answered ${response.status}`, response.status);
    const result = await answerOf(response, endpoint);
    const exp = typeof result["exp"] === "number" ? result["exp"] * 1000 : Infinity;
    if (ttl > 0) {
      if (cache.size >= maxEntries) cache.delete(cache.keys().next().value as string);
      cache.set(key, { result, until: Math.min(now + ttl, exp) });
    }
    return result;
  }

  return {
    introspect,
    async isActive(token, opts) {
      return (await introspect(token, opts)).active;
    },
  };
}

/** The RFC 7662 answer in `response`; IntrospectionError for a body that cannot be read, is
 * too large, is not JSON or has no boolean `active` (never taken for an answer). */
async function answerOf(response: Response, endpoint: string): Promise<IntrospectionResult> {
  let result: unknown;
  try {
    const body = await readBounded(response, MAX_DOCUMENT_BYTES);
    if (body === null) throw new IntrospectionError(`${endpoint} answered more than ${MAX_DOCUMENT_BYTES} bytes`);
    result = JSON.parse(body);
  } catch (error) {
    if (error instanceof IntrospectionError) throw error;
    throw new IntrospectionError(`${endpoint} gave no readable JSON answer`, response.status, { cause: error });
  }
  if (typeof result !== "object" || result === null || typeof (result as IntrospectionResult).active !== "boolean") {
    throw new IntrospectionError(`${endpoint} gave no "active"`, response.status);
  }
  return result as IntrospectionResult;
}

function formEncode(value: string): string {
  return encodeURIComponent(value).replace(/%20/g, "+");
}

async function sha256(value: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return Array.from(new Uint8Array(digest), (byte) => byte.toString(16).padStart(2, "0")).join("");
}
