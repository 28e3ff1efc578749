import { API_ADMIN, CLI_CLIENT_ID, PERSONAL_SIGN_IN_AMR, SCOPES_IMPLIED_BY_API_ADMIN } from "./contract.js";
import { InsufficientScopeError } from "./errors.js";

/** A verified caller. */
export interface Principal {
  /** The user's id (the token's `sub`, a UUID). */
  readonly user_id: string;
  readonly username: string;
  /** "user" or "service". */
  readonly kind: string;
  /** The `scope` claim split on spaces, in order. */
  readonly scopes: readonly string[];
  /** Group ids from the `groups` claim. */
  readonly groups: readonly string[];
  /** How the caller signed in; always empty for an upstream token. */
  readonly amr: readonly string[];
  /** The OAuth client the token was issued to, or null. */
  readonly client_id: string | null;
  /** The token's id (`jti`). */
  readonly token_id: string;
  /** The audience the verifier accepted the token for. */
  readonly audience: string;
  /** Expiry, seconds since the epoch. */
  readonly expires_at: number;
  /** True for the gateway's upstream token: the gateway asserts who the caller is. */
  readonly via_gateway: boolean;
  /** An upstream token's `src_amr` (how the caller signed in to the gateway); else empty. */
  readonly src_amr: readonly string[];
}

/** Whether `scopes` grant `scope`: held directly, or a Micro scope implied by `api_admin`
 * (another service's scopes are never implied). */
export function scopeGranted(scopes: readonly string[], scope: string): boolean {
  return (
    scopes.includes(scope) || (scopes.includes(API_ADMIN) && SCOPES_IMPLIED_BY_API_ADMIN.has(scope))
  );
}

/** Whether the principal holds `scope` (directly or through `api_admin`). */
export function hasScope(principal: Pick<Principal, "scopes">, scope: string): boolean {
  return scopeGranted(principal.scopes, scope);
}

/** The scopes of `required` the principal does not hold. */
export function missingScopes(principal: Pick<Principal, "scopes">, required: readonly string[]): string[] {
  return required.filter((scope) => !hasScope(principal, scope));
}

/** Throws InsufficientScopeError unless the principal holds every scope of `required`. */
export function requireScopes(principal: Pick<Principal, "scopes">, ...required: string[]): void {
  const missing = missingScopes(principal, required);
  if (missing.length > 0) throw new InsufficientScopeError(required, missing);
}

/** Whether a person signed in themselves (`pwd` in `amr`, `hwk` or `swk` for a passkey, or
 * `fed` for a sign-in at an identity provider the service trusts; no third-party app); never
 * for an upstream token: the gateway vouches for a request, not for how its credential was
 * obtained. */
export function isPersonalSignIn(principal: Principal): boolean {
  if (principal.via_gateway) return false;
  return (
    principal.amr.some((method) => PERSONAL_SIGN_IN_AMR.has(method)) &&
    (principal.client_id === null || principal.client_id === CLI_CLIENT_ID)
  );
}
