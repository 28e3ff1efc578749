import { base64url, importJWK } from "jose";

import { ALGORITHM, DEFAULT_MIN_REFETCH_INTERVAL_MS, DISCOVERY_PATH } from "./contract.js";
import { InsecureUrlError, KeysUnavailableError, TokenError } from "./errors.js";

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** The largest discovery document, JWKS or introspection answer read. */
export const MAX_DOCUMENT_BYTES = 256 * 1024;
const MIN_RSA_BITS = 2048;

export interface JwksCacheOptions {
  /** The issuer's URL: the JWKS is found through its discovery document's `jwks_uri`. */
  issuer: string;
  /** The JWKS URL, skipping discovery. */
  jwksUrl?: string;
  fetch?: FetchLike;
  /** Fetches other than the periodic one happen at most once per this many ms (default 30 s). */
  minRefetchIntervalMs?: number;
  /** The keys are refetched when older than this (default 300 s). */
  maxAgeMs?: number;
  /** When fetching fails, keys this much past `maxAgeMs` still serve (default 1 h). */
  maxStaleMs?: number;
  timeoutMs?: number;
  /** A monotonic clock in ms (tests set it). */
  clockMs?: () => number;
}

interface KeySet {
  readonly keys: ReadonlyMap<string, CryptoKey>;
  readonly fetchedAt: number;
}

/** `url` when keys may be fetched from it (or credentials sent to it): https://, or http:// to
 * a loopback IP literal (127.0.0.0/8, [::1]); anyone on a network path could otherwise serve
 * their own keys or read the credentials. A host name is refused even when it is `localhost`:
 * what it resolves to is up to DNS. `what` names the URL in the error. */
export function requireSecureUrl(url: string, what = "a URL keys are fetched from"): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InsecureUrlError(`not a URL: ${url}`);
  }
  if (parsed.protocol === "https:" && parsed.hostname) return url;
  if (parsed.protocol === "http:" && isLoopbackLiteral(parsed.hostname)) return url;
  throw new InsecureUrlError(
    `${what} must be https:// (plain http:// only to 127.0.0.1 or [::1]): ${url}`,
  );
}

function isLoopbackLiteral(host: string): boolean {
  if (host === "[::1]") return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** The body of `response` as text, or null when it is longer than `maxBytes`: reading stops
 * there (the rest is never buffered), so a huge or endless answer costs at most that much. */
export async function readBounded(response: Response, maxBytes: number): Promise<string | null> {
  if (Number(response.headers.get("Content-Length")) > maxBytes) {
    await response.body?.cancel();
    return null;
  }
  if (response.body === null) return "";
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (let part = await reader.read(); !part.done; part = await reader.read()) {
    size += part.value.byteLength;
    if (size > maxBytes) {
      await reader.cancel();
      return null;
    }
    chunks.push(part.value);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return new TextDecoder().decode(bytes);
}

async function fetchJson(fetchFn: FetchLike, url: string, timeoutMs: number): Promise<unknown> {
  let response: Response;
  try {
    response = await fetchFn(url, {
      headers: { Accept: "application/json" },
      redirect: "error",
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new KeysUnavailableError(`cannot fetch ${url}`, { cause: error });
  }
  if (!response.ok) throw new KeysUnavailableError(`${url} answered ${response.status}`);
  let body: string | null;
  try {
    body = await readBounded(response, MAX_DOCUMENT_BYTES);
  } catch (error) {
    throw new KeysUnavailableError(`cannot read ${url}`, { cause: error });
  }
  if (body === null) {
    throw new KeysUnavailableError(`${url} returned more than ${MAX_DOCUMENT_BYTES} bytes`);
  }
  try {
    return JSON.parse(body) as unknown;
  } catch (error) {
    throw new KeysUnavailableError(`${url} did not return JSON`, { cause: error });
  }
}

/** The RS256 signing keys of a JWKS by `kid`; other keys and malformed entries are skipped.
 * Only the public members are read, so a JWKS wrongly carrying private members never yields
 * a private key. */
export async function publicKeysFromJwks(document: unknown): Promise<Map<string, CryptoKey>> {
  const entries = isObject(document) ? document["keys"] : undefined;
  if (!Array.isArray(entries)) throw new KeysUnavailableError("the JWKS has no `keys` list");
  const keys = new Map<string, CryptoKey>();
  for (const entry of entries) {
    if (!isObject(entry) || entry["kty"] !== "RSA" || typeof entry["kid"] !== "string") continue;
    if ((entry["use"] ?? "sig") !== "sig" || (entry["alg"] ?? ALGORITHM) !== ALGORITHM) continue;
    const { n, e } = entry;
    if (typeof n !== "string" || typeof e !== "string") continue;
    try {
      if (base64url.decode(n).length * 8 < MIN_RSA_BITS) continue;
      const key = await importJWK({ kty: "RSA", n, e }, ALGORITHM);
      if (key instanceof CryptoKey) keys.set(entry["kid"], key);
    } catch {
      continue;
    }
  }
  return keys;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * The issuer's public keys, found through its discovery document and kept for `maxAgeMs`.
 *
 * An unknown `kid` (a key rotated in since the last fetch) triggers one refetch, but such
 * forced fetches happen at most once per `minRefetchIntervalMs`, so a flood of tokens with
 * made-up `kid`s costs the issuer one request per interval; failed fetches count too. While
 * the issuer is unreachable the keys held keep working for `maxStaleMs` past their age; after
 * that, or with nothing held, KeysUnavailableError. Concurrent callers share one fetch.
 */
export class JwksCache {
  /** Fetch attempts of the JWKS, successful or not (tests and the bench read it). */
  fetches = 0;
  private readonly issuer: string;
  private jwksUrl: string | undefined;
  private readonly fetchFn: FetchLike;
  private readonly minRefetchIntervalMs: number;
  private readonly maxAgeMs: number;
  private readonly maxStaleMs: number;
  private readonly timeoutMs: number;
  private readonly clockMs: () => number;
  private keySet: KeySet | undefined;
  private inflight: Promise<KeySet> | undefined;
  private lastAttempt: number | undefined;
  private lastForced: number | undefined;

  constructor(options: JwksCacheOptions) {
    this.issuer = options.issuer.replace(/\/+$/, "");
    this.jwksUrl = options.jwksUrl === undefined ? undefined : requireSecureUrl(options.jwksUrl);
    requireSecureUrl(this.issuer + DISCOVERY_PATH);
    this.fetchFn = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.minRefetchIntervalMs = options.minRefetchIntervalMs ?? DEFAULT_MIN_REFETCH_INTERVAL_MS;
    this.maxAgeMs = options.maxAgeMs ?? 300_000;
    this.maxStaleMs = options.maxStaleMs ?? 3_600_000;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.clockMs = options.clockMs ?? (() => performance.now());
  }

  /** The public key for `kid`; TokenError `unknown_key` for a kid the issuer does not publish
   * (after at most one rate-limited refetch). */
  async key(kid: string): Promise<CryptoKey> {
    const held = this.keySet;
    let keySet = held;
    if (keySet === undefined || this.clockMs() - keySet.fetchedAt >= this.maxAgeMs) {
      // With the key in hand, do not queue behind a fetch under way: use it meanwhile.
      const known = keySet !== undefined && keySet.keys.has(kid);
      keySet = known && this.inflight ? keySet : await this.refresh(false);
    }
    let key = keySet?.keys.get(kid);
    if (key === undefined && keySet === held) key = (await this.refresh(true)).keys.get(kid);
    if (key === undefined) throw new TokenError("unknown_key", `unknown kid ${JSON.stringify(kid)}`);
    return key;
  }

  private refresh(forced: boolean): Promise<KeySet> {
    const now = this.clockMs();
    const last = forced ? this.lastForced : this.lastAttempt;
    if (this.inflight) return this.inflight;
    if (last !== undefined && now - last < this.minRefetchIntervalMs) {
      return Promise.resolve(this.usable(now));
    }
    this.lastAttempt = now;
    if (forced) this.lastForced = now;
    this.fetches += 1;
    this.inflight = this.fetchKeys()
      .then(
        (keys) => (this.keySet = { keys, fetchedAt: this.clockMs() }),
        (error: unknown) => {
          if (!(error instanceof KeysUnavailableError)) throw error;
          return this.usable(this.clockMs(), error);
        },
      )
      .finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private usable(now: number, cause?: unknown): KeySet {
    const held = this.keySet;
    if (held === undefined) {
      throw new KeysUnavailableError(`no signing keys from ${this.issuer}`, { cause });
    }
    if (now - held.fetchedAt >= this.maxAgeMs + this.maxStaleMs) {
      throw new KeysUnavailableError(`the keys from ${this.issuer} are too old to trust`, { cause });
    }
    return held;
  }

  private async fetchKeys(): Promise<Map<string, CryptoKey>> {
    const url = this.jwksUrl ?? (await this.discoverJwksUrl());
    return publicKeysFromJwks(await fetchJson(this.fetchFn, url, this.timeoutMs));
  }

  /** The discovery document's `jwks_uri`, once its `issuer` matches the one configured. */
  private async discoverJwksUrl(): Promise<string> {
    const document = await fetchJson(this.fetchFn, this.issuer + DISCOVERY_PATH, this.timeoutMs);
    const jwksUri = isObject(document) ? document["jwks_uri"] : undefined;
    const issuer = isObject(document) ? document["issuer"] : undefined;
    // The document must be this issuer's own (OpenID Connect Discovery 1.0, section 4.3): one
    // naming another issuer, or none, points at keys this verifier must not trust.
    if (typeof jwksUri !== "string" || typeof issuer !== "string" || issuer.replace(/\/+$/, "") !== this.issuer) {
      throw new KeysUnavailableError(`${this.issuer}${DISCOVERY_PATH} names no jwks_uri for this issuer`);
    }
    try {
      this.jwksUrl = requireSecureUrl(jwksUri);
    } catch (error) {
      throw new KeysUnavailableError(`insecure jwks_uri ${jwksUri}`, { cause: error });
    }
    return this.jwksUrl;
  }
}
