"""DRF authentication classes: each yields a `Principal` as `request.user`.

They follow DRF's contract: `None` for a scheme that is not theirs, `AuthenticationFailed` for
a bad credential of theirs, `authenticate_header` for the 401 challenge. Token classes come
before the session class in the settings.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from rest_framework.authentication import (
    BaseAuthentication,
    SessionAuthentication,
    get_authorization_header,
)
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from accounts.models import User
from authn import scopes as scope_catalogue
from authn.principal import Principal
from authn.principals import principal_for_user
from authn.services import revocation
from authn.services.jwt import InvalidAccessToken, access_token_decode

API_KEY_PREFIX = "mk_"


def bearer_credential(request: Request) -> str | None:
    """The credential of an `Authorization: Bearer` header, None for other schemes."""
    header = get_authorization_header(request).split()
    if not header or header[0].lower() != b"bearer":
        return None
    if len(header) != 2:
        raise AuthenticationFailed("Malformed Authorization header.", code="invalid_token")
    try:
        return header[1].decode("ascii")
    except UnicodeDecodeError as exc:
        raise AuthenticationFailed("Malformed bearer token.", code="invalid_token") from exc


def _uuid_list(values: Any) -> tuple[uuid.UUID, ...]:
    if not isinstance(values, list):
        raise InvalidAccessToken("malformed groups claim")
    try:
        return tuple(uuid.UUID(str(value)) for value in values)
    except ValueError as exc:
        raise InvalidAccessToken("malformed groups claim") from exc


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """A principal from verified claims; malformed claims raise InvalidAccessToken."""
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError as exc:
        raise InvalidAccessToken("malformed sub") from exc
    kind = claims.get("kind", "user")
    amr = claims.get("amr", [])
    if kind not in ("user", "service") or not isinstance(amr, list):
        raise InvalidAccessToken("malformed claims")
    return Principal(
        user_id=user_id,
        username=str(claims.get("username", "")),
        kind=kind,
        group_ids=_uuid_list(claims.get("groups", [])),
        scopes=frozenset(str(claims.get("scope", "")).split()) & scope_catalogue.ALL_SCOPES,
        method="oauth2" if claims.get("client_id") else "jwt",
        amr=tuple(str(value) for value in amr),
        jti=str(claims["jti"]),
        session_id=str(claims["sid"]) if claims.get("sid") else None,
        expires_at=int(claims["exp"]),
        client_id=str(claims["client_id"]) if claims.get("client_id") else None,
    )


def principal_from_access_token(raw: str) -> Principal:
    """Verifies an access token offline (plus the shared revocation list): no database query."""
    claims = access_token_decode(raw)
    if revocation.is_revoked(claims):
        raise InvalidAccessToken("token revoked")
    return principal_from_claims(claims)


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <access token>`: stateless JWT verification against our keys."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        raw = bearer_credential(request)
        if raw is None or raw.startswith(API_KEY_PREFIX):
            return None
        try:
            return principal_from_access_token(raw), None
        except InvalidAccessToken as exc:
            raise AuthenticationFailed(
                "The access token is invalid, expired or revoked.", code="invalid_token"
            ) from exc

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="micro"'


class SessionPrincipalAuthentication(SessionAuthentication):
    """The dashboard's session cookie, with CSRF enforced on unsafe methods (never disabled)."""

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user = result[0]
        if not isinstance(user, User):
            return None
        return principal_for_user(user, method="session", amr=("pwd",)), None
