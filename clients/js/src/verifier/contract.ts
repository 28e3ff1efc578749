/** What the Micro service and its clients agree on, named once (as micro_client.contract). */

/** The only signing algorithm: a token with any other `alg` is refused. */
export const ALGORITHM = "RS256";
/** The JOSE `typ` of an access token (RFC 9068). */
export const ACCESS_TOKEN_TYP = "at+jwt";
/** The JOSE `typ` of the gateway's upstream token (`X-User-Token`). */
export const UPSTREAM_TOKEN_TYP = "user+jwt";
/** The signed `token_type` claim of an upstream token. */
export const UPSTREAM_TOKEN_TYPE_CLAIM = "upstream";
/** The claims every access token and upstream token carries. */
export const REQUIRED_CLAIMS = ["iss", "sub", "aud", "exp", "iat", "jti"] as const;
/** Where the issuer's discovery document lives, below its URL. */
export const DISCOVERY_PATH = "/.well-known/openid-configuration";
/** Header members that name key material: keys come only from the configured JWKS. */
export const FORBIDDEN_HEADERS = ["jku", "jwk", "x5u", "x5c", "crit"] as const;

/** The first-party CLI's OAuth client: its tokens are the person's own sign-in. */
export const CLI_CLIENT_ID = "micro-cli";
/** The `amr` values (RFC 8176) of a person's own sign-in: a password, a passkey (`hwk` a
 * hardware-bound key, `swk` a synced one), or a sign-in at a trusted identity provider. */
export const PERSONAL_SIGN_IN_AMR: ReadonlySet<string> = new Set(["pwd", "hwk", "swk", "fed"]);

export const API_ADMIN = "api_admin";
/** Every Micro scope below `api_admin`: holding `api_admin` implies exactly these. */
export const SCOPES_IMPLIED_BY_API_ADMIN: ReadonlySet<string> = new Set([
  "profile",
  "users:read",
  "users:write",
  "objects:read",
  "objects:write",
]);

/** Default and upper bound of the clock leeway, in seconds. */
export const DEFAULT_LEEWAY_SECONDS = 30;
export const MAX_LEEWAY_SECONDS = 300;
/** Default minimum interval between refetches of the JWKS, in milliseconds. */
export const DEFAULT_MIN_REFETCH_INTERVAL_MS = 30_000;
/** Tokens longer than this are refused before any parsing. */
export const MAX_TOKEN_LENGTH = 8192;
