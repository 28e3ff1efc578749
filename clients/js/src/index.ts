/** The Micro SDK: the token verifier (also `@micro-user-service/client/verifier`) and the
 * typed API client. */
export * from "./verifier/index.js";
export * from "./client/index.js";
export type { components, paths } from "./schema.js";
