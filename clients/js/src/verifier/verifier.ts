import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type ProtectedHeaderParameters } from "jose";

import {
  ACCESS_TOKEN_TYP,
  ALGORITHM,
  DEFAULT_LEEWAY_SECONDS,
  FORBIDDEN_HEADERS,
  MAX_LEEWAY_SECONDS,
  MAX_TOKEN_LENGTH,
  REQUIRED_CLAIMS,
  UPSTREAM_TOKEN_TYP,
  UPSTREAM_TOKEN_TYPE_CLAIM,
} from "./contract.js";
import { TokenError, type TokenErrorReason } from "./errors.js";
import { JwksCache, type FetchLike } from "./jwks.js";
import type { Principal } from "./principal.js";

export interface VerifierOptions {
  /** The issuer's URL (Micro's MICRO_ISSUER); `iss` must equal it exactly. */
  issuer: string;
  /** The one audience this service accepts (a string `aud`, or an array containing it). */
  audience: string;
  /** Clock leeway in seconds for exp, nbf and iat (default 30, at most 300). */
  leeway?: number;
  fetch?: FetchLike;
  /** The current time in seconds since the epoch (tests set it). */
  now?: () => number;
  /** Refetches for an unknown kid happen at most once per this many ms (default 30 s). */
  minRefetchIntervalMs?: number;
  /** The JWKS URL, instead of the discovery document's `jwks_uri`. */
  jwksUrl?: string;
  /** A key cache to share or tune; built from the options above when absent. */
  jwks?: JwksCache;
}

export interface Verifier {
  /** The verified caller of `token`; rejects with TokenError (or KeysUnavailableError). */
  verify(token: string): Promise<Principal>;
  /** The verified claims of `token`; rejects with TokenError (or KeysUnavailableError). */
  claims(token: string): Promise<JWTPayload>;
  readonly jwks: JwksCache;
}

type Kind = "access" | "upstream";

/** A verifier of Micro access tokens (`typ` `at+jwt`); upstream tokens are refused. */
export function createVerifier(options: VerifierOptions): Verifier {
  return buildVerifier(options, "access");
}

/** A verifier of the gateway's upstream token (`X-User-Token`, `typ` `user+jwt`, the upstream
 * audience) for a service behind the gateway; access tokens are refused. */
export function createUpstreamVerifier(options: VerifierOptions): Verifier {
  return buildVerifier(options, "upstream");
}

function buildVerifier(options: VerifierOptions, kind: Kind): Verifier {
  const leeway = options.leeway ?? DEFAULT_LEEWAY_SECONDS;
  if (!Number.isFinite(leeway) || leeway < 0 || leeway > MAX_LEEWAY_SECONDS) {
    throw new RangeError(`leeway must be between 0 and ${MAX_LEEWAY_SECONDS} seconds`);
  }
  if (!options.audience) throw new TypeError("an audience is required");
  const issuer = options.issuer.replace(/\/+$/, "");
  const audience = options.audience;
  const now = options.now ?? (() => Date.now() / 1000);
  const jwks =
    options.jwks ??
    new JwksCache({
      issuer,
      jwksUrl: options.jwksUrl,
      fetch: options.fetch,
      minRefetchIntervalMs: options.minRefetchIntervalMs,
    });
  const typ = kind === "access" ? ACCESS_TOKEN_TYP : UPSTREAM_TOKEN_TYP;

  async function claims(token: string): Promise<JWTPayload> {
    const header = readHeader(token);
    checkHeader(header, typ);
    const at = now();
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (protectedHeader) => jwks.key(protectedHeader.kid as string), {
        algorithms: [ALGORITHM],
        issuer,
        audience,
        clockTolerance: leeway,
        currentDate: new Date(at * 1000),
        requiredClaims: [...REQUIRED_CLAIMS],
      }));
    } catch (error) {
      throw asTokenError(error);
    }
    if ((payload.iat as number) > at + leeway) throw new TokenError("not_yet_valid", "iat is in the future");
    const upstream = payload["token_type"] === UPSTREAM_TOKEN_TYPE_CLAIM;
    if (upstream !== (kind === "upstream")) throw new TokenError("type", `not an ${kind} token`);
    return payload;
  }

  return {
    jwks,
    claims,
    async verify(token: string): Promise<Principal> {
      return principalFromClaims(await claims(token), audience, kind === "upstream");
    },
  };
}

/** The unverified JOSE header (decoded by jose); TokenError `malformed` unless the token is
 * three base64url parts whose header is a JSON object. */
function readHeader(token: string): ProtectedHeaderParameters {
  if (typeof token !== "string" || token.length > MAX_TOKEN_LENGTH || token.split(".").length !== 3) {
    throw new TokenError("malformed", "not a compact JWS");
  }
  try {
    return decodeProtectedHeader(token);
  } catch (error) {
    throw new TokenError("malformed", "malformed header", { cause: error });
  }
}

/** The header checks, before any key lookup: RS256 only, the expected `typ`, no member naming
 * key material (keys come only from the configured JWKS), and a `kid`. */
export function checkHeader(header: ProtectedHeaderParameters, typ: string): void {
  if (header.alg !== ALGORITHM) throw new TokenError("algorithm", `alg ${String(header.alg)} not allowed`);
  if (header.typ !== typ) throw new TokenError("type", `not a ${typ} token`);
  for (const name of FORBIDDEN_HEADERS) {
    if (Object.hasOwn(header, name)) throw new TokenError("header", `header names ${name}`);
  }
  const kid = header.kid;
  if (typeof kid !== "string" || kid.length === 0 || kid.length > 64) {
    throw new TokenError("header", "missing or malformed kid");
  }
}

const CLAIM_REASONS: Record<string, TokenErrorReason> = {
  iss: "issuer",
  aud: "audience",
  nbf: "not_yet_valid",
  iat: "not_yet_valid",
  exp: "expired",
};

function asTokenError(error: unknown): Error {
  if (error instanceof TokenError || !(error instanceof errors.JOSEError)) return error as Error;
  if (error instanceof errors.JWTExpired) return new TokenError("expired", error.message, { cause: error });
  if (error instanceof errors.JWTClaimValidationFailed) {
    const reason =
      error.reason === "missing"
        ? "missing_claim"
        : error.reason === "invalid"
          ? "malformed"
          : (CLAIM_REASONS[error.claim] ?? "malformed");
    return new TokenError(reason, error.message, { cause: error });
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new TokenError("signature", error.message, { cause: error });
  }
  if (error instanceof errors.JOSEAlgNotAllowed) return new TokenError("algorithm", error.message, { cause: error });
  return new TokenError("malformed", error.message, { cause: error });
}

/** A UUID in its canonical text form, the form Micro writes in `sub` and `groups`. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function stringList(claims: JWTPayload, name: string): string[] {
  const value = claims[name] ?? [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) {
    throw new TokenError("malformed", `malformed ${name} claim`);
  }
  return value as string[];
}

/** The principal of verified claims; TokenError `malformed` when a claim has the wrong shape.
 * Claims of an upstream token (its signed `token_type`) always give a `via_gateway` principal
 * with an empty `amr`, however they reach this function. */
export function principalFromClaims(claims: JWTPayload, audience: string, viaGateway = false): Principal {
  const kind = claims["kind"] ?? "user";
  const scope = claims["scope"] ?? "";
  const clientId = claims["client_id"];
  if ((kind !== "user" && kind !== "service") || typeof scope !== "string") {
    throw new TokenError("malformed", "malformed kind or scope claim");
  }
  if (typeof claims.sub !== "string" || typeof claims.jti !== "string") {
    throw new TokenError("malformed", "malformed sub or jti claim");
  }
  // Users and groups are named by UUID: a token naming them otherwise is none of Micro's.
  const groups = stringList(claims, "groups");
  if (!UUID.test(claims.sub) || !groups.every((group) => UUID.test(group))) {
    throw new TokenError("malformed", "sub or a group id is not a UUID");
  }
  const gateway = viaGateway || claims["token_type"] === UPSTREAM_TOKEN_TYPE_CLAIM;
  const amr = stringList(claims, "amr");
  // An upstream token signed before `src_amr` existed carried the methods in `amr`.
  const srcAmr = "src_amr" in claims ? stringList(claims, "src_amr") : amr;
  return Object.freeze({
    user_id: claims.sub,
    username: typeof claims["username"] === "string" ? claims["username"] : "",
    kind,
    scopes: Object.freeze(scope.split(" ").filter((item) => item !== "")),
    groups: Object.freeze(groups),
    amr: Object.freeze(gateway ? [] : amr),
    client_id: typeof clientId === "string" && clientId !== "" ? clientId : null,
    token_id: claims.jti,
    audience,
    expires_at: claims.exp as number,
    via_gateway: gateway,
    src_amr: Object.freeze(gateway ? srcAmr : []),
  });
}
