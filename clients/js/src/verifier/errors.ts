/** Why a token was refused: one word of the vocabulary every Micro SDK shares. */
export type TokenErrorReason =
  | "malformed"
  | "algorithm"
  | "type"
  | "header"
  | "unknown_key"
  | "signature"
  | "issuer"
  | "audience"
  | "expired"
  | "not_yet_valid"
  | "missing_claim";

/** The string is not a valid, current token of the kind the verifier accepts. */
export class TokenError extends Error {
  override readonly name = "TokenError";
  readonly reason: TokenErrorReason;

  constructor(reason: TokenErrorReason, message?: string, options?: { cause?: unknown }) {
    super(message ?? reason, options);
    this.reason = reason;
  }
}

/** The issuer's keys cannot be fetched and none usable is cached: the token can be neither
 * accepted nor refused (answer 503, not 401). */
export class KeysUnavailableError extends Error {
  override readonly name = "KeysUnavailableError";
}

/** The principal lacks a scope the operation needs (answer 403). */
export class InsufficientScopeError extends Error {
  override readonly name = "InsufficientScopeError";
  readonly required: readonly string[];
  readonly missing: readonly string[];

  constructor(required: readonly string[], missing: readonly string[]) {
    super(`missing scope: ${missing.join(" ")}`);
    this.required = required;
    this.missing = missing;
  }
}

/** A URL keys would be fetched from, or credentials sent to, that is neither https:// nor
 * http:// to a loopback IP literal. */
export class InsecureUrlError extends Error {
  override readonly name = "InsecureUrlError";
}
