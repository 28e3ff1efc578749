export { createClient, type ClientOptions, type MicroClient, type UserPublic } from "./client.js";
export { apiKey, clientCredentials, token, type CredentialContext, type CredentialSource, type RefreshingOptions } from "./credentials.js";
export { MicroApiError } from "./errors.js";
export { nextCursor, paginate, type Page } from "./pages.js";
