/** The answers a framework adapter gives when a request is refused: RFC 9457 problem details
 * with the `code` Micro's own API uses, and RFC 6750's `WWW-Authenticate: Bearer`. */
import { KeysUnavailableError, TokenError } from "./verifier/errors.js";
import { missingScopes, type Principal } from "./verifier/principal.js";
import type { Verifier } from "./verifier/verifier.js";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";
const PROBLEM_TYPE_BASE = "urn:micro:problem:";

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
}

/** A refusal: its status, problem body and headers. */
export interface Refusal {
  status: number;
  body: Problem;
  headers: Record<string, string>;
}

export interface AuthOptions {
  verifier: Verifier;
  /** Where the token is read: `Authorization: Bearer` (default) or the gateway's
   * `X-User-Token` (use with an upstream verifier). */
  source?: "bearer" | "upstream";
  /** The `realm` of `WWW-Authenticate` (default "api"). */
  realm?: string;
}

function problem(status: number, code: string, title: string, detail: string): Problem {
  return { type: PROBLEM_TYPE_BASE + code, title, status, detail, code };
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&")}"`;
}

function challenge(realm: string, params: Record<string, string> = {}): string {
  const parts = [`realm=${quoted(realm)}`, ...Object.entries(params).map(([k, v]) => `${k}=${quoted(v)}`)];
  return `Bearer ${parts.join(", ")}`;
}

/** The token of a request's headers, or undefined when it carries none. */
export function tokenFromHeaders(
  header: (name: string) => string | string[] | undefined,
  source: "bearer" | "upstream" = "bearer",
): string | undefined {
  const raw = header(source === "upstream" ? "x-user-token" : "authorization");
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (value === undefined || value === "") return undefined;
  if (source === "upstream") return value.trim();
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return match?.[1];
}

/** Verifies the request's token: the principal, or the refusal to send. Unexpected errors
 * propagate (the framework answers them as a 500). */
export async function authenticate(
  options: AuthOptions,
  header: (name: string) => string | string[] | undefined,
): Promise<{ principal: Principal } | { refusal: Refusal }> {
  const realm = options.realm ?? "api";
  const token = tokenFromHeaders(header, options.source);
  if (token === undefined) {
    const detail = options.source === "upstream" ? "No X-User-Token header." : "No bearer token.";
    return { refusal: { status: 401, body: problem(401, "not_authenticated", "Not authenticated", detail), headers: { "WWW-Authenticate": challenge(realm) } } };
  }
  try {
    return { principal: await options.verifier.verify(token) };
  } catch (error) {
    if (error instanceof TokenError) {
      const reason = error.reason;
      const detail = `The token is not valid (${reason}).`;
      return {
        refusal: {
          status: 401,
          body: problem(401, "invalid_token", "Invalid token", detail),
          headers: { "WWW-Authenticate": challenge(realm, { error: "invalid_token", error_description: detail }) },
        },
      };
    }
    if (error instanceof KeysUnavailableError) {
      const detail = "The issuer's signing keys cannot be fetched; try again shortly.";
      return {
        refusal: {
          status: 503,
          body: problem(503, "signing_keys_unavailable", "Signing keys unavailable", detail),
          headers: { "Retry-After": "5" },
        },
      };
    }
    throw error;
  }
}

/** The refusal for a request lacking scopes (403), or for no principal at all (401); null
 * when every scope of `required` is held. */
export function scopeRefusal(principal: Principal | undefined, required: readonly string[], realm = "api"): Refusal | null {
  if (principal === undefined) {
    return { status: 401, body: problem(401, "not_authenticated", "Not authenticated", "No verified token."), headers: { "WWW-Authenticate": challenge(realm) } };
  }
  const missing = missingScopes(principal, required);
  if (missing.length === 0) return null;
  const detail = `This needs the scope ${missing.join(" ")}.`;
  return {
    status: 403,
    body: problem(403, "insufficient_scope", "Insufficient scope", detail),
    headers: { "WWW-Authenticate": challenge(realm, { error: "insufficient_scope", scope: required.join(" ") }) },
  };
}
