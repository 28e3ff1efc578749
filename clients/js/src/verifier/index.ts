/** Token verification for Micro access and upstream tokens. Web APIs only (fetch, WebCrypto
 * through jose): no Node builtins, so this entry point runs in browsers and edge runtimes. */
export * from "./contract.js";
export * from "./errors.js";
export * from "./introspection.js";
export { JwksCache, publicKeysFromJwks, requireSecureUrl, type FetchLike, type JwksCacheOptions } from "./jwks.js";
export * from "./principal.js";
export * from "./verifier.js";
