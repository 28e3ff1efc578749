/** Fastify 5 hooks: verify the bearer token (or the gateway's X-User-Token), attach the
 * principal as `request.micro`, and refuse with RFC 9457 problem details. */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, preHandlerAsyncHookHandler } from "fastify";

import { authenticate, PROBLEM_CONTENT_TYPE, scopeRefusal, type AuthOptions, type Refusal } from "./http.js";
import type { Principal } from "./verifier/principal.js";

export type { AuthOptions } from "./http.js";

declare module "fastify" {
  interface FastifyRequest {
    /** The verified caller, set by `microAuth`. */
    micro?: Principal;
  }
}

function send(reply: FastifyReply, refusal: Refusal): FastifyReply {
  return reply.code(refusal.status).headers(refusal.headers).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(refusal.body));
}

/** A preHandler hook verifying the request's token: `request.micro` on success; 401 or 503 as
 * problem details otherwise. Use per route (`preHandler: microAuthHook(...)`). */
export function microAuthHook(options: AuthOptions): preHandlerAsyncHookHandler {
  return async function microAuthHandler(request: FastifyRequest, reply: FastifyReply) {
    const outcome = await authenticate(options, (name) => request.headers[name]);
    if ("refusal" in outcome) return send(reply, outcome.refusal);
    request.micro = outcome.principal;
  };
}

/** A plugin adding `microAuthHook` to every route of the scope it is registered in. Register
 * it with `fastify-plugin` semantics by calling it on the root instance, or inside a scope. */
export const microAuth: FastifyPluginAsync<AuthOptions> = async (instance, options) => {
  instance.decorateRequest("micro", undefined);
  instance.addHook("preHandler", microAuthHook(options));
};
(microAuth as unknown as Record<symbol, boolean>)[Symbol.for("skip-override")] = true;

/** A preHandler allowing the request only when `request.micro` holds every scope (`api_admin`
 * implies Micro's own scopes): 403 `insufficient_scope` otherwise, 401 with no principal. */
export function requireScopes(...scopes: string[]): preHandlerAsyncHookHandler {
  if (scopes.length === 0) throw new TypeError("requireScopes needs at least one scope");
  return async function microScopeHandler(request: FastifyRequest, reply: FastifyReply) {
    const refusal = scopeRefusal(request.micro, scopes);
    if (refusal !== null) return send(reply, refusal);
  };
}
