"""Access tokens: RS256 JWTs (RFC 9068) with `kid` and `typ: at+jwt`, built on simplejwt.

The gateway's upstream token (`X-User-Token`) is signed by the same keys but is another kind:
`typ: user+jwt` and its own audience (`MICRO_UPSTREAM_TOKEN_AUDIENCE`). Every decode names the
kind it accepts, so an upstream token is never taken for an access token, nor the reverse.

simplejwt does what it is built for: its `Token` classes build the claim set (`token_type`,
`jti`, `iat`, `exp`) and check it on the way in, and its `TokenBackend` encodes and decodes
(signature, the one algorithm, audience, issuer, expiry). What it lacks is added at the hooks
it offers, once each, without redoing what it does:
- `SigningKeyTokenBackend.encode` signs with the active signing key and writes the `kid` and
  `typ` headers (simplejwt signs with one static key and has no way to add a header);
- `SigningKeyTokenBackend.get_verifying_key`, where simplejwt picks the verifying key, checks
  the header first (RFC 8725: one allowed algorithm, explicit `typ`, no key material taken
  from the token, a size bound) and picks the key by `kid` from the rotating key set;
- `_ServiceToken.verify`, simplejwt's place for further claim checks, requires the claims of
  `REQUIRED_CLAIMS` (neither library requires `iat` or `sub`) and `sub` and `scope` as strings.
The audience and issuer are read from the settings each time a token is built or checked.
PyJWT alone could do the same; simplejwt stays because its token classes already carry the
claim rules above, and with its backend doing the decoding there is one path through it.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar

import jwt
from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError
from rest_framework_simplejwt.tokens import Token

from authn.tokens.signing_keys import key_ring

# What every client checks too: the typ values, the algorithm, the required claims.
from micro_client.contract import (
    ACCESS_TOKEN_TYP,
    ALGORITHM,
    REQUIRED_CLAIMS,
    UPSTREAM_TOKEN_TYP,
    UPSTREAM_TOKEN_TYPE_CLAIM,
)

ALLOWED_ALGORITHMS = (ALGORITHM,)
MAX_TOKEN_BYTES = 8192
# `iat` has whole seconds; revocations of a user need the instant (see revocation.py).
ISSUED_AT_US_CLAIM = "iat_us"
# Header members that point at key material; we never take keys from the token (RFC 8725 3.10).
FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})


class InvalidAccessToken(Exception):
    """The string is not a valid access token of this service (any reason)."""


def _check_header(raw: str, typ: str = ACCESS_TOKEN_TYP) -> str:
    """Validates the unverified header (of the kind `typ`) and returns its `kid`."""
    if len(raw) > MAX_TOKEN_BYTES or raw.count(".") != 2:
        raise InvalidAccessToken("malformed token")
    try:
        header = jwt.get_unverified_header(raw)
    except jwt.PyJWTError as exc:
        raise InvalidAccessToken("malformed token") from exc
    if header.get("alg") not in ALLOWED_ALGORITHMS:
        raise InvalidAccessToken("algorithm not allowed")
    if header.get("typ") != typ:
        raise InvalidAccessToken(f"not a {typ} token")
    if FORBIDDEN_HEADERS & set(header):
        raise InvalidAccessToken("header names external key material")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= 64:
        raise InvalidAccessToken("missing or malformed kid")
    return kid


class SigningKeyTokenBackend(TokenBackend):
    """simplejwt's backend, signing with the active signing key and verifying by `kid`.

    One backend per token kind: it writes and accepts only its own `typ` and audience.
    """

    def __init__(self, *, typ: str, audience: str | tuple[str, ...], issuer: str) -> None:
        self.typ = typ
        super().__init__(ALLOWED_ALGORITHMS[0], audience=audience, issuer=issuer)

    def encode(self, payload: dict[str, Any]) -> str:
        """simplejwt's encode, with the active signing key and the `kid` and `typ` headers."""
        kid, private_key = key_ring.signing_key()
        return jwt.encode(
            {**payload, "iss": self.issuer, "aud": self.audience},
            private_key,
            algorithm=self.algorithm,
            headers={"kid": kid, "typ": self.typ},
            json_encoder=self.json_encoder,
        )

    def get_verifying_key(self, token: Any) -> Any:
        """The published key the token's `kid` names, once its header is one of ours; never a
        key the token itself carries or points at."""
        if not isinstance(token, str):
            raise TokenBackendError("malformed token")
        try:
            kid = _check_header(token, self.typ)
        except InvalidAccessToken as exc:
            raise TokenBackendError(str(exc)) from exc
        key = key_ring.verifying_key(kid)
        if key is None:
            raise TokenBackendError("unknown kid")
        return key

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        """simplejwt's decode; a token is only ever read with its signature verified."""
        if not verify:
            raise TokenBackendError("unverified decoding is not supported")
        return super().decode(token)


@functools.lru_cache(maxsize=256)
def _token_backend(
    typ: str, audience: str | tuple[str, ...], issuer: str
) -> SigningKeyTokenBackend:
    return SigningKeyTokenBackend(typ=typ, audience=audience, issuer=issuer)


class _ServiceToken(Token):
    """A token kind of this service: its backend writes and accepts only `typ` and the
    audience named by `audience_setting` (or the audiences given for this one token), and a
    decoded token carries the required claims."""

    typ: ClassVar[str]
    audience_setting: ClassVar[str]

    def __init__(
        self,
        token: Any = None,
        verify: bool = True,
        *,
        audience: str | tuple[str, ...] | None = None,
    ) -> None:
        # Set before simplejwt decodes: a token is written for, or accepted from, exactly
        # this audience (one of these audiences) instead of the setting's.
        self.audience = audience
        super().__init__(token, verify)  # typed for a Token, but simplejwt decodes a string

    @property
    def token_backend(self) -> SigningKeyTokenBackend:
        audience = self.audience or str(getattr(settings, self.audience_setting))
        return _token_backend(self.typ, audience, settings.MICRO_ISSUER)

    def check_exp(self, claim: str = "exp", current_time: datetime | None = None) -> None:
        """simplejwt's check, refusing an instant no date can hold instead of failing on it."""
        try:
            super().check_exp(claim, current_time)
        except (OverflowError, ValueError) as exc:
            raise TokenError(f"Token {claim!r} claim is out of range") from exc

    def verify(self) -> None:
        """simplejwt's checks (`exp`, `jti`, `token_type`), then the claims every token of
        this service carries: all of `REQUIRED_CLAIMS`, `sub` and `scope` as strings."""
        super().verify()
        missing = [claim for claim in REQUIRED_CLAIMS if claim not in self.payload]
        if missing:
            raise TokenError(f"Token has no {missing[0]!r} claim")
        if not isinstance(self.payload["sub"], str) or not isinstance(
            self.payload.get("scope", ""), str
        ):
            raise TokenError("malformed claims")


class MicroAccessToken(_ServiceToken):
    token_type = "access"  # noqa: S105 - a token kind, not a secret
    lifetime = timedelta(seconds=600)
    typ = ACCESS_TOKEN_TYP
    audience_setting = "MICRO_TOKEN_AUDIENCE"

    def __init__(
        self,
        token: Any = None,
        verify: bool = True,
        *,
        audience: str | tuple[str, ...] | None = None,
    ) -> None:
        self.lifetime = timedelta(seconds=settings.MICRO_ACCESS_TOKEN_TTL)
        super().__init__(token, verify, audience=audience)


class MicroUpstreamToken(_ServiceToken):
    """The gateway's assertion to the services behind it; never an access token here. Its
    lifetime is set by each issue (the gateway's, bounded by the source credential)."""

    token_type = UPSTREAM_TOKEN_TYPE_CLAIM
    lifetime = timedelta(seconds=60)
    typ = UPSTREAM_TOKEN_TYP
    audience_setting = "MICRO_UPSTREAM_TOKEN_AUDIENCE"


@dataclass(frozen=True)
class IssuedAccessToken:
    token: str
    jti: str
    expires_in: int
    scope: str


def _identity_claims(
    token: Token,
    *,
    subject: uuid.UUID,
    username: str,
    kind: str,
    scopes: frozenset[str],
    group_ids: tuple[uuid.UUID, ...],
) -> None:
    """What both token kinds carry: the issue instant in microseconds (a user's revocation is
    recorded to the microsecond), subject, scopes, username, kind and groups."""
    token[ISSUED_AT_US_CLAIM] = int(token["iat"]) * 1_000_000 + token.current_time.microsecond
    token["sub"] = str(subject)
    token["scope"] = " ".join(sorted(scopes))
    token["username"] = username
    token["kind"] = kind
    token["groups"] = [str(group_id) for group_id in group_ids]


def _signed(token: Token) -> IssuedAccessToken:
    return IssuedAccessToken(
        token=str(token),
        jti=token["jti"],
        expires_in=int(token["exp"] - token["iat"]),
        scope=token["scope"],
    )


def access_token_issue(
    *,
    subject: uuid.UUID,
    username: str,
    kind: str,
    scopes: frozenset[str],
    group_ids: tuple[uuid.UUID, ...],
    amr: tuple[str, ...],
    session_id: uuid.UUID | str | None = None,
    lifetime: int | None = None,
    client_id: str | None = None,
    auth_time: int | None = None,
    audience: str | None = None,
    idp: str | None = None,
) -> IssuedAccessToken:
    """Signs an access token carrying the claims listed in docs/downstream.md; `audience`
    makes it a token for one service (`aud`), which this service's own API refuses; `idp`
    names the identity provider of a federated sign-in (`fed` in `amr`)."""
    token = MicroAccessToken(audience=audience)
    if lifetime is not None:
        token.set_exp(lifetime=timedelta(seconds=lifetime))
    _identity_claims(
        token, subject=subject, username=username, kind=kind, scopes=scopes, group_ids=group_ids
    )
    token["amr"] = list(amr)
    if session_id is not None:
        token["sid"] = str(session_id)
    if client_id is not None:
        token["client_id"] = client_id
    if auth_time is not None:
        token["auth_time"] = auth_time
    if idp is not None:
        token["idp"] = idp
    return _signed(token)


def upstream_token_issue(
    *,
    subject: uuid.UUID,
    username: str,
    kind: str,
    scopes: frozenset[str],
    group_ids: tuple[uuid.UUID, ...],
    amr: tuple[str, ...],
    lifetime: int,
    session_id: uuid.UUID | str | None = None,
    parent_jti: str | None = None,
    parent_digest: str | None = None,
    client_id: str | None = None,
) -> IssuedAccessToken:
    """Signs the gateway's upstream token: the same identity claims as an access token, but
    `typ: user+jwt` and the upstream audience, so this service's API refuses it; `sid`,
    `parent_jti` and `parent_digest` name the sign-in or API key and the access token it
    derives from, so revoking any of them revokes it too.

    `amr` is always empty: the gateway vouches for a request, not for a sign-in, so no
    verifier checking `pwd` in `amr` may take the token for a person's own sign-in. The
    caller's methods travel, for information only, as `src_amr`."""
    token = MicroUpstreamToken()
    token.set_exp(lifetime=timedelta(seconds=lifetime))
    _identity_claims(
        token, subject=subject, username=username, kind=kind, scopes=scopes, group_ids=group_ids
    )
    token["amr"] = []
    token["src_amr"] = list(amr)
    parents = (("sid", session_id), ("parent_jti", parent_jti), ("parent_digest", parent_digest))
    for claim, value in parents:
        if value is not None:
            token[claim] = str(value)
    if client_id is not None:
        token["client_id"] = client_id
    return _signed(token)


def _decode(
    token_class: type[_ServiceToken], raw: str, audience: tuple[str, ...] | None = None
) -> dict[str, Any]:
    try:
        return token_class(raw, audience=audience).payload
    except (TokenError, TokenBackendError) as exc:
        raise InvalidAccessToken(str(exc)) from exc


def access_token_decode(raw: str, *, audiences: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Verifies signature, `typ` (`at+jwt` only), `alg`, `kid`, `iss`, `aud` (the access-token
    audience only, or one of `audiences` when given), `exp`/`nbf` and required claims: every
    path of this service that accepts a bearer JWT goes through here, so an upstream token or
    an ID token is never accepted, nor a token for another service unless asked for.

    Raises InvalidAccessToken for anything else; revocation is checked separately.
    """
    return _decode(MicroAccessToken, raw, audiences)


def upstream_token_decode(raw: str) -> dict[str, Any]:
    """The same checks for an upstream token (`typ: user+jwt`, the upstream audience): used
    only to answer an introspection that asks about one explicitly, never to authenticate."""
    return _decode(MicroUpstreamToken, raw)
