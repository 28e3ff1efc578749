"""Django REST framework glue for the offline verifier: authentication class and scope check.

Settings of the service using it:

- `MICRO_ISSUER` (required): the Micro service's public URL, the tokens' `iss`.
- `MICRO_TOKEN_AUDIENCE` (default `"micro"`): the `aud` access tokens must carry.
- `MICRO_UPSTREAM_TOKEN_AUDIENCE` (default `"micro-upstream"`): the `aud` of the gateway's
  upstream token, for `MicroUpstreamTokenAuthentication` (services behind the gateway only).
- `MICRO_JWKS_URL` (default: the `jwks_uri` of the issuer's discovery document,
  `MICRO_ISSUER + "/.well-known/openid-configuration"`, read with the first token).

No database query, ever: `request.user` is a `MicroPrincipal` built from the token's claims.

A wrong configuration (no `MICRO_ISSUER`; a JWKS URL, or without one the issuer's URL, that is
neither `https://` nor `http://` to a loopback IP literal) is an `ImproperlyConfigured` naming
the setting: reported by Django's system checks (`manage.py check`, `runserver`, `migrate`:
`micro_downstream.E001`) once this module is imported, and raised when DRF instantiates an
authentication class, never a confusing error in the middle of authenticating. To refuse to
start under gunicorn too, call `verifier_from_settings()` from an `AppConfig.ready()`.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from .verifier import (
    InsecureUrl,
    InvalidToken,
    KeysUnavailable,
    MicroPrincipal,
    TokenVerifier,
    UpstreamTokenVerifier,
    principal_from_claims,
)

_verifiers: dict[tuple[type[TokenVerifier], str, str, str | None], TokenVerifier] = {}
_verifiers_lock = threading.Lock()


def _verifier(kind: type[TokenVerifier], audience: str) -> TokenVerifier:
    """The cached verifier of this configuration; ImproperlyConfigured when it cannot be one."""
    issuer = str(getattr(settings, "MICRO_ISSUER", "") or "").rstrip("/")
    if not issuer:
        raise ImproperlyConfigured("MICRO_ISSUER (the Micro service's public URL) is required.")
    jwks_url = getattr(settings, "MICRO_JWKS_URL", None)
    config = (kind, issuer, audience, jwks_url)
    verifier = _verifiers.get(config)
    if verifier is not None:
        return verifier
    try:
        built = kind(issuer=issuer, audience=audience, jwks_url=jwks_url)
    except InsecureUrl as exc:
        raise ImproperlyConfigured(
            "MICRO_JWKS_URL (default: from MICRO_ISSUER's discovery document) and MICRO_ISSUER"
            f" must be https://, or http:// to a loopback IP literal: {exc}"
        ) from exc
    with _verifiers_lock:
        return _verifiers.setdefault(config, built)


def verifier_from_settings() -> TokenVerifier:
    """The process's access-token verifier for the current settings (one JWKS cache per
    configuration)."""
    return _verifier(TokenVerifier, str(getattr(settings, "MICRO_TOKEN_AUDIENCE", "micro")))


def upstream_verifier_from_settings() -> TokenVerifier:
    """The process's upstream-token verifier for the current settings."""
    audience = str(getattr(settings, "MICRO_UPSTREAM_TOKEN_AUDIENCE", "micro-upstream"))
    return _verifier(UpstreamTokenVerifier, audience)


@checks.register(checks.Tags.security)
def check_verifier_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """`micro_downstream.E001` when the verifier cannot be built from the settings."""
    try:
        verifier_from_settings()
    except ImproperlyConfigured as exc:
        return [checks.Error(str(exc), id="micro_downstream.E001")]
    return []


class SigningKeysUnavailable(APIException):
    """The issuer's keys cannot be fetched: the token can be neither accepted nor refused."""

    status_code = 503
    default_detail = "The token issuer's signing keys are unavailable; try again later."
    default_code = "signing_keys_unavailable"


def _verified(
    verifier: TokenVerifier, token: str, *, what: str, via_gateway: bool
) -> tuple[MicroPrincipal, dict[str, Any]]:
    """The principal and claims of `token` as DRF's authenticate returns them: a token the
    verifier refuses is a 401 naming `what`, keys that cannot be fetched a 503."""
    try:
        claims = verifier.claims(token)
        principal = principal_from_claims(
            claims, via_gateway=via_gateway, audience=verifier.audience
        )
        return principal, claims
    except InvalidToken as exc:
        raise AuthenticationFailed(
            f"The {what} is invalid or expired.", code="invalid_token"
        ) from exc
    except KeysUnavailable as exc:
        raise SigningKeysUnavailable() from exc


class MicroJWTAuthentication(BaseAuthentication):
    """`Authorization: Bearer <Micro access token>`, verified offline against the JWKS.

    `request.user` is a `MicroPrincipal`, `request.auth` the verified claims. A request without
    a bearer token is left to the next class (None); a bad token is a 401 with
    `WWW-Authenticate: Bearer`.
    """

    realm = "api"

    def __init__(self) -> None:
        # Built (and so checked) when DRF instantiates the class: a misconfiguration is an
        # ImproperlyConfigured naming the setting, not an error while authenticating.
        self.verifier = verifier_from_settings()

    def authenticate(self, request: Request) -> tuple[MicroPrincipal, dict[str, Any]] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != b"bearer":
            return None
        if len(parts) != 2:
            raise AuthenticationFailed("Malformed Authorization header.", code="invalid_token")
        try:
            token = parts[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed("Malformed bearer token.", code="invalid_token") from exc
        return _verified(self.verifier, token, what="access token", via_gateway=False)

    def authenticate_header(self, request: Request) -> str:
        return f'Bearer realm="{self.realm}"'


class MicroUpstreamTokenAuthentication(BaseAuthentication):
    """The gateway's `X-User-Token` header, verified offline as an upstream token (never as an
    access token), for a service reachable only through the gateway.

    `request.user` is a `MicroPrincipal` with `via_gateway` set (`is_personal_sign_in` is
    False), `request.auth` the verified claims. No header → the next class (None); a bad or
    missing-kind token → 401. Do not use it on a service clients can reach directly: there,
    accept access tokens only (`MicroJWTAuthentication`).
    """

    header = "HTTP_X_USER_TOKEN"

    def __init__(self) -> None:
        # As MicroJWTAuthentication: checked when DRF instantiates the class.
        self.verifier = upstream_verifier_from_settings()

    def authenticate(self, request: Request) -> tuple[MicroPrincipal, dict[str, Any]] | None:
        token = request.META.get(self.header)
        if not token:
            return None
        return _verified(self.verifier, str(token), what="upstream token", via_gateway=True)

    def authenticate_header(self, request: Request) -> str:
        return 'Gateway realm="api"'


class HasScope(BasePermission):
    """Requires every scope in the view's `required_scopes` (or `HasScope.of("a", "b")`).

    Unauthenticated requests get DRF's 401; a principal lacking a scope gets a 403.
    """

    scopes: tuple[str, ...] = ()
    # The refusal's code, as the WSGI and ASGI middleware's (DRF reads it off the permission).
    code = "insufficient_scope"

    @classmethod
    def of(cls, *scopes: str) -> type[HasScope]:
        return type(f"HasScope({' '.join(scopes)})", (cls,), {"scopes": tuple(scopes)})

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not isinstance(user, MicroPrincipal):
            return False
        required = (*self.scopes, *getattr(view, "required_scopes", ()))
        missing = [scope for scope in required if not user.has_scope(scope)]
        if missing:
            # DRF reads `message` off the permission that refused: name what was missing.
            self.message = f"The credential lacks: {' '.join(missing)}."
        return not missing
