/** A fake issuer for tests: RSA keys, a discovery document and JWKS served through a fake
 * fetch (no network), and tokens signed with jose. */
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from "jose";

export const ISSUER = "https://issuer.test";
export const AUDIENCE = "micro";
export const NOW = 1_900_000_000;

export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: Record<string, unknown>;
}

export async function makeKey(kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair("RS256", { extractable: true });
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "RS256", use: "sig" } };
}

export class FakeIssuer {
  published: TestKey[];
  jwksFetches = 0;
  discoveryFetches = 0;
  failing = false;

  constructor(keys: TestKey[]) {
    this.published = keys;
  }

  fetch = async (url: string): Promise<Response> => {
    if (this.failing) throw new TypeError("network down");
    if (url === `${ISSUER}/.well-known/openid-configuration`) {
      this.discoveryFetches += 1;
      return Response.json({ issuer: ISSUER, jwks_uri: `${ISSUER}/jwks` });
    }
    if (url === `${ISSUER}/jwks`) {
      this.jwksFetches += 1;
      return Response.json({ keys: this.published.map((key) => key.jwk) });
    }
    return new Response("not found", { status: 404 });
  };
}

export function claims(overrides: JWTPayload = {}): JWTPayload {
  return {
    iss: ISSUER,
    aud: AUDIENCE,
    sub: "6f1c2f0e-8a55-4d7c-9a59-1d8b1f0b7c11",
    exp: NOW + 600,
    iat: NOW - 10,
    jti: "jti-1",
    scope: "profile users:read",
    username: "alice",
    kind: "user",
    groups: ["0c5c3b2e-79a3-4f3e-8a0e-6b8f4f0b6a10"],
    amr: ["pwd"],
    token_type: "access",
    ...overrides,
  };
}

export async function sign(
  key: TestKey,
  payload: JWTPayload = claims(),
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg: "RS256", typ: "at+jwt", kid: key.kid, ...header })
    .sign(key.privateKey);
}
