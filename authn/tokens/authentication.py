"""DRF authentication classes: each yields a `Principal` as `request.user`.

They follow DRF's contract: `None` for a scheme that is not theirs, `AuthenticationFailed` for
a bad credential of theirs, `authenticate_header` for the 401 challenge. Token classes come
before the session class in the settings.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import (
    BaseAuthentication,
    get_authorization_header,
)
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from authn.tokens import revocation
from authn.tokens.jwt import InvalidAccessToken, access_token_decode
from authn.tokens.signing_keys import key_ring
from micro_platform.identity import Principal

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


def principal_from_claims(
    claims: Mapping[str, Any], *, token_digest: str | None = None
) -> Principal:
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
        # Signed by this service, which checked each name when it issued the token.
        scopes=frozenset(str(claims.get("scope", "")).split()),
        method="oauth2" if claims.get("client_id") else "jwt",
        amr=tuple(str(value) for value in amr),
        jti=str(claims["jti"]),
        session_id=str(claims["sid"]) if claims.get("sid") else None,
        expires_at=int(claims["exp"]),
        client_id=str(claims["client_id"]) if claims.get("client_id") else None,
        auth_time=_optional_int(claims.get("auth_time")),
        token_digest=token_digest,
        idp=str(claims["idp"]) if claims.get("idp") else None,
    )


def _optional_int(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidAccessToken("malformed auth_time")
    return value


@dataclass(frozen=True, slots=True)
class _Verified:
    claims: dict[str, Any]
    principal: Principal
    kid: str
    digest: str | None


class _VerifiedTokens:
    """Per-process memo of access tokens whose signature and claims were verified.

    A client sends the same token on every request until it expires; verifying its RS256
    signature each time is most of a bearer request's authentication cost (P1, P3). The memo
    is keyed by the exact token string, so it only ever answers for bytes that were verified;
    on each use it re-checks expiry and that the signing key is still published, and the
    revocation list on every request (through the process memo of authn/state.py), so a
    revoked token is refused at once by the process that revoked it and within
    MICRO_REVOCATION_POLL_MS by every other.
    """

    def __init__(self, size: int = 10_000) -> None:
        self._entries: OrderedDict[str, _Verified] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def principal(self, raw: str, audiences: tuple[str, ...] | None = None) -> Principal:
        return self.verified(raw, audiences).principal

    def verified(
        self, raw: str, audiences: tuple[str, ...] | None = None, *, fresh: bool = False
    ) -> _Verified:
        """The verified, unrevoked token's claims and principal; InvalidAccessToken otherwise.
        `fresh` checks revocation against the shared cache, not this process's memo.

        The token's `aud` must be this service's access-token audience, or one of `audiences`
        when given (the gateway checking a request for another service): a token for another
        service is never a credential for this service's own API, memoized or not."""
        accepted = audiences or (settings.MICRO_TOKEN_AUDIENCE,)
        with self._lock:
            cached = self._entries.get(raw)
        if cached is None or not self._still_valid(cached):
            cached = self._verify(raw, accepted)
        elif cached.claims.get("aud") not in accepted:
            raise InvalidAccessToken("token for another audience")
        if revocation.is_revoked(cached.claims, digest=cached.digest, fresh=fresh):
            raise InvalidAccessToken("token revoked")
        return cached

    @staticmethod
    def _still_valid(entry: _Verified) -> bool:
        return entry.claims["exp"] > time.time() and key_ring.verifying_key(entry.kid) is not None

    def _verify(self, raw: str, audiences: tuple[str, ...]) -> _Verified:
        # The full check; raises InvalidAccessToken. This service signs `aud` as one string.
        claims = access_token_decode(raw, audiences=audiences)
        if not isinstance(claims.get("aud"), str):
            raise InvalidAccessToken("malformed aud")
        kid = str(jwt.get_unverified_header(raw)["kid"])  # checked by the decode above
        # An OAuth 2.0 token is revoked by the digest django-oauth-toolkit stores for it.
        digest = hashlib.sha256(raw.encode()).hexdigest() if claims.get("client_id") else None
        entry = _Verified(claims, principal_from_claims(claims, token_digest=digest), kid, digest)
        with self._lock:
            self._entries[raw] = entry
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return entry

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_tokens = _VerifiedTokens()


def principal_from_access_token(raw: str, audiences: tuple[str, ...] | None = None) -> Principal:
    """Verifies an access token offline (plus the shared revocation list): no database query."""
    return verified_tokens.principal(raw, audiences)


class BearerTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <access token>`: stateless JWT verification against our keys.
    Only tokens for this service's API (`aud` = MICRO_TOKEN_AUDIENCE) are accepted."""

    def audiences(self, request: Request) -> tuple[str, ...] | None:
        """The accepted `aud` values: the view's `token_audiences(request)` when it has one
        (the gateway), else None, this service's own audience only."""
        view = (request.parser_context or {}).get("view")
        hook = getattr(view, "token_audiences", None)
        return hook(request) if hook else None

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        raw = bearer_credential(request)
        if raw is None or raw.startswith(API_KEY_PREFIX):
            return None
        try:
            return principal_from_access_token(raw, self.audiences(request)), None
        except InvalidAccessToken as exc:
            raise AuthenticationFailed(
                "The access token is invalid, expired or revoked.", code="invalid_token"
            ) from exc

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="micro"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "authn.tokens.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An access token from /api/v1/auth/token (RS256 JWT, `typ: at+jwt`).",
        }
