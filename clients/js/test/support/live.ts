import { decodeProtectedHeader } from "jose";

export { createIntrospector, createVerifier } from "../../src/verifier/index.js";

export function decodeKid(token: string): string | undefined {
  return decodeProtectedHeader(token).kid;
}

export async function signIn(baseUrl: string, username: string, password: string): Promise<string> {
  const response = await fetch(`${baseUrl}/api/v1/auth/token`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username, password }),
  });
  if (response.status !== 200) throw new Error(`sign-in answered ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

export async function exchange(baseUrl: string, key: string): Promise<string> {
  const response = await fetch(`${baseUrl}/api/v1/auth/token/exchange`, {
    method: "POST",
    headers: { "X-API-Key": key, "Content-Type": "application/json" },
    body: "{}",
  });
  if (response.status !== 200) throw new Error(`exchange answered ${response.status}`);
  return ((await response.json()) as { access_token: string }).access_token;
}
