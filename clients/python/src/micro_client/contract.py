"""What the Micro service and its clients must agree on, named once.

The service imports these values too (its scope catalogue, its principal, its token minting),
so a client built on this module cannot drift from the server. Plain constants and the two
rules every principal applies: this module imports nothing, not even the standard library,
and is safe to import anywhere.
"""

from __future__ import annotations

# --- Tokens ---------------------------------------------------------------------------------

# The only signing algorithm: tokens with any other `alg` are refused.
ALGORITHM = "RS256"
# The JOSE `typ` of an access token (RFC 9068) and of the gateway's upstream token: ID
# tokens, refresh tokens and the other kind are refused by it.
ACCESS_TOKEN_TYP = "at+jwt"  # noqa: S105 - a media type, not a secret
UPSTREAM_TOKEN_TYP = "user+jwt"  # noqa: S105 - a media type, not a secret
# The signed `token_type` claim of an upstream token (access tokens say `access`).
UPSTREAM_TOKEN_TYPE_CLAIM = "upstream"  # noqa: S105 - a token kind, not a secret
# The claims every access token and upstream token carries.
REQUIRED_CLAIMS: tuple[str, ...] = ("iss", "sub", "aud", "exp", "iat", "jti")
# Where the issuer publishes its public signing keys, below its URL (a verifier finds them
# through the discovery document's `jwks_uri`).
JWKS_PATH = "/.well-known/jwks.json"
# Where the issuer publishes its OpenID Connect discovery document, below its URL.
DISCOVERY_PATH = "/.well-known/openid-configuration"

# --- The first-party CLI --------------------------------------------------------------------

# The `micro` CLI's public OAuth client: its tokens are the person's own sign-in.
CLI_CLIENT_ID = "micro-cli"
# The `amr` values (RFC 8176) of a person's own sign-in: a password, a passkey (`hwk` a
# hardware-bound key, `swk` a synced one), or a sign-in at a trusted identity provider.
PERSONAL_SIGN_IN_AMR: tuple[str, ...] = ("pwd", "hwk", "swk", "fed")

# --- Scopes ---------------------------------------------------------------------------------

PROFILE = "profile"
USERS_READ = "users:read"
USERS_WRITE = "users:write"
OBJECTS_READ = "objects:read"
OBJECTS_WRITE = "objects:write"
API_ADMIN = "api_admin"
# Every Micro scope below `api_admin`: holding `api_admin` implies each of them.
SCOPES_IMPLIED_BY_API_ADMIN: frozenset[str] = frozenset(
    {PROFILE, USERS_READ, USERS_WRITE, OBJECTS_READ, OBJECTS_WRITE}
)
# Every Micro scope.
ALL_SCOPES: frozenset[str] = SCOPES_IMPLIED_BY_API_ADMIN | {API_ADMIN}


# --- Rules on a verified caller ---------------------------------------------------------------


def scope_granted(held: frozenset[str], scope: str) -> bool:
    """Whether scopes `held` grant `scope`: held directly, or a Micro scope implied by
    `api_admin` (another service's scopes are never implied)."""
    return scope in held or (API_ADMIN in held and scope in SCOPES_IMPLIED_BY_API_ADMIN)


def personal_sign_in(amr: tuple[str, ...], client_id: str | None) -> bool:
    """Whether a person signed in themselves: a password sign-in, a dashboard session or the
    `micro` CLI's login (`pwd` in `amr`), a passkey sign-in (`hwk` or `swk`), or a sign-in at
    an identity provider the service trusts (`fed`). Not an API key or a token derived from
    one (`api_key`), a client-credentials token (no `amr`), nor a third-party app's token
    acting for the user (another `client_id`)."""
    if client_id not in (None, CLI_CLIENT_ID):
        return False
    return any(method in amr for method in PERSONAL_SIGN_IN_AMR)
