"""Helpers for the authn tests: forging tokens with any header, claims, key or signature."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from rest_framework.test import APIClient

from accounts.models import User
from authn.tokens.jwt import access_token_issue
from authn.tokens.signing_keys import key_ring

ME_URL = "/api/v1/me"
TOKEN_URL = "/api/v1/auth/token"
REFRESH_URL = "/api/v1/auth/token/refresh"
REVOKE_URL = "/api/v1/auth/token/revoke"
LOGOUT_ALL_URL = "/api/v1/auth/logout-all"
JWKS_URL = "/.well-known/jwks.json"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":")).encode())


def b64url_decode_json(segment: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def active_signing_key() -> tuple[str, Any]:
    """The `kid` and decrypted private key that sign this service's tokens right now."""
    return key_ring.signing_key()


def public_key_pem() -> bytes:
    _, private_key = active_signing_key()
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def valid_claims(user: User, **overrides: Any) -> dict[str, Any]:
    """The claim set of a genuine access token for `user`; `None` values remove a claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.MICRO_ISSUER,
        "aud": settings.MICRO_TOKEN_AUDIENCE,
        "sub": str(user.pk),
        "exp": now + 300,
        "iat": now,
        "jti": uuid.uuid4().hex,
        "token_type": "access",
        "scope": "profile users:read",
        "username": user.username,
        "kind": user.kind,
        "groups": [],
        "amr": ["pwd"],
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def forge(
    claims: dict[str, Any],
    *,
    key: Any = None,
    kid: Any = None,
    algorithm: str = "RS256",
    headers: dict[str, Any] | None = None,
) -> str:
    """Signs `claims` with PyJWT (our active key and kid unless told otherwise)."""
    active_kid, private_key = active_signing_key()
    header: dict[str, Any] = {"typ": "at+jwt", "kid": active_kid if kid is None else kid}
    header.update(headers or {})
    return jwt.encode(
        claims, private_key if key is None else key, algorithm=algorithm, headers=header
    )


def assemble(header: dict[str, Any], claims: Any, signature: bytes = b"") -> str:
    """A compact JWS built by hand, for headers and signatures PyJWT refuses to produce."""
    return f"{b64url_json(header)}.{b64url_json(claims)}.{b64url(signature)}"


def signing_input(header: dict[str, Any], claims: Any) -> bytes:
    return f"{b64url_json(header)}.{b64url_json(claims)}".encode()


def assemble_rs256(header: dict[str, Any], claims: Any, key: Any = None) -> str:
    """A hand-built token with any header and payload, RS256-signed (our active key by default)."""
    _, private_key = active_signing_key()
    rs256 = jwt.api_jws.get_algorithm_by_name("RS256")
    signature = rs256.sign(signing_input(header, claims), private_key if key is None else key)
    return assemble(header, claims, signature)


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def me_status(token: str) -> int:
    """The status GET /api/v1/me answers to a request carrying `token` as bearer."""
    return bearer_client(token).get(ME_URL).status_code


def password_login(user: User, password: str, **extra: Any) -> dict[str, Any]:
    """Signs in through POST /api/v1/auth/token and returns the token pair."""
    response = APIClient().post(
        TOKEN_URL, {"username": user.username, "password": password, **extra}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh(refresh_token: str) -> Any:
    return APIClient().post(REFRESH_URL, {"refresh_token": refresh_token}, format="json")


def profile_token(user: User, *, amr: tuple[str, ...] = ("pwd",), **claims: Any) -> str:
    """A `profile` access token of `user`, from a password sign-in unless `amr` says otherwise
    (`lifetime`, `session_id`, `auth_time`... pass through)."""
    return access_token_issue(
        subject=user.pk,
        username=user.username,
        kind=user.kind,
        scopes=frozenset({"profile"}),
        group_ids=(),
        amr=amr,
        **claims,
    ).token
