/** Express 5 middleware: verify the bearer token (or the gateway's X-User-Token), attach the
 * principal as `req.micro`, and refuse with RFC 9457 problem details. */
import type { NextFunction, Request, RequestHandler, Response } from "express";

import { authenticate, PROBLEM_CONTENT_TYPE, scopeRefusal, type AuthOptions, type Refusal } from "./http.js";
import type { Principal } from "./verifier/principal.js";

export type { AuthOptions } from "./http.js";

declare module "express-serve-static-core" {
  interface Request {
    /** The verified caller, set by `microAuth`. */
    micro?: Principal;
  }
}

function send(res: Response, refusal: Refusal): void {
  res.status(refusal.status).set(refusal.headers).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(refusal.body));
}

/** Verifies each request's token: `req.micro` on success; 401 (invalid or no token) or 503
 * (the issuer's keys cannot be fetched) as problem details otherwise. */
export function microAuth(options: AuthOptions): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const outcome = await authenticate(options, (name) => req.headers[name]);
    if ("refusal" in outcome) return send(res, outcome.refusal);
    req.micro = outcome.principal;
    next();
  };
}

/** Allows the request only when `req.micro` holds every scope (`api_admin` implies Micro's
 * own scopes): 403 `insufficient_scope` otherwise, 401 without `microAuth` before it. */
export function requireScopes(...scopes: string[]): RequestHandler {
  if (scopes.length === 0) throw new TypeError("requireScopes needs at least one scope");
  return (req: Request, res: Response, next: NextFunction): void => {
    const refusal = scopeRefusal(req.micro, scopes);
    if (refusal !== null) return send(res, refusal);
    next();
  };
}
