"""Offline verification of Micro access tokens for other Python services (docs/downstream.md).

Self-contained on purpose: it imports only the standard library, PyJWT (with `cryptography`)
and this package's `contract`, so a service can install it or copy the package as it is.
Nothing here reaches the database or the Micro service beyond fetching its discovery document
and its public JWKS.

What is checked (RFC 8725, RFC 9068): the header before anything else (`alg` RS256 only,
`typ` `at+jwt` so ID tokens and refresh tokens are refused, a `kid`, and no header that points
at key material: keys come only from the issuer's JWKS, found through its discovery document
or configured), then the RS256 signature with
the key named by `kid`, `iss`, `aud`, `exp` (with a small leeway), `nbf` when present, and the
claims every access token carries (`iss sub aud exp iat jti`).

Two kinds of token, never confused: `TokenVerifier` accepts access tokens only (`typ` `at+jwt`,
the access-token audience); `UpstreamTokenVerifier` accepts only the gateway's upstream token
(`X-User-Token`: `typ` `user+jwt`, the upstream audience), for services behind the gateway. A
principal from an upstream token is a gateway assertion: never a person's sign-in.

Offline verification cannot see revocations: a revoked token verifies here until it expires.
Keep access tokens short (600 s by default) and call `/o/introspect/` where that matters.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from math import isfinite
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

if TYPE_CHECKING:  # PyJWT names its options type from 2.10 on
    from jwt.types import Options

from .contract import (
    ACCESS_TOKEN_TYP,
    ALGORITHM,
    DISCOVERY_PATH,
    REQUIRED_CLAIMS,
    SCOPES_IMPLIED_BY_API_ADMIN,
    UPSTREAM_TOKEN_TYP,
    UPSTREAM_TOKEN_TYPE_CLAIM,
    personal_sign_in,
    scope_granted,
)
from .contract import (
    API_ADMIN as API_ADMIN,
)
from .contract import (
    CLI_CLIENT_ID as CLI_CLIENT_ID,
)

# Header members naming key material; keys come only from the configured JWKS (RFC 8725 3.10).
FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c", "crit"})
MAX_TOKEN_BYTES = 8192
MAX_JWKS_BYTES = 256 * 1024
MIN_RSA_BITS = 2048
# The verifier's earlier name for the scopes `api_admin` implies.
MICRO_SCOPES_IMPLIED_BY_API_ADMIN = SCOPES_IMPLIED_BY_API_ADMIN

Fetch = Callable[[str, float], Any]


# Why a token is refused: `InvalidToken.reason`, the same words in every Micro SDK (the
# shared test vectors in clients/testdata hold each verifier to them).
MALFORMED = "malformed"  # not three base64url JSON parts, or a claim of the wrong type
ALGORITHM_REFUSED = "algorithm"  # `alg` is not RS256
WRONG_TYPE = "type"  # the other kind of token (`typ`, an upstream token's `token_type`)
FORBIDDEN_HEADER = "header"  # key material named in the header, or no `kid`
UNKNOWN_KEY = "unknown_key"  # the `kid` is not published, even after a refetch
BAD_SIGNATURE = "signature"
WRONG_ISSUER = "issuer"
WRONG_AUDIENCE = "audience"
EXPIRED = "expired"
NOT_YET_VALID = "not_yet_valid"  # `nbf` or `iat` in the future beyond the leeway
MISSING_CLAIM = "missing_claim"
REASONS: frozenset[str] = frozenset(
    {
        MALFORMED,
        ALGORITHM_REFUSED,
        WRONG_TYPE,
        FORBIDDEN_HEADER,
        UNKNOWN_KEY,
        BAD_SIGNATURE,
        WRONG_ISSUER,
        WRONG_AUDIENCE,
        EXPIRED,
        NOT_YET_VALID,
        MISSING_CLAIM,
    }
)
# The largest leeway a verifier accepts: past it, an expired token is simply accepted.
MAX_LEEWAY = 300


class InvalidToken(Exception):
    """The string is not a valid, current Micro token of the kind asked for; `reason` says
    why, in one of the words of `REASONS`, the message in more detail."""

    def __init__(self, message: str, reason: str = MALFORMED) -> None:
        super().__init__(message)
        self.reason = reason


class KeysUnavailable(Exception):
    """The JWKS cannot be fetched and no usable copy is cached: the token cannot be checked."""


class InsecureUrl(ValueError):
    """A URL keys would come from (the JWKS, the issuer's discovery document) that is not
    `https://` (nor plain `http://` to a loopback IP literal)."""


def require_secure_url(url: str, *, what: str = "the JWKS URL") -> str:
    """`url` when keys may be fetched from it: `https://`, or `http://` to a loopback IP
    literal (127.0.0.0/8, [::1]); raises InsecureUrl otherwise.

    Over plain http on a network, anyone on the path could serve their own keys and so sign
    any token. A host *name* is refused even when it is `localhost`: what it resolves to is
    up to /etc/hosts and DNS, while a literal loopback address never leaves the machine.
    """
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and _is_loopback_literal(parts.hostname):
        return url
    raise InsecureUrl(
        f"{what} must be https:// (plain http:// only to 127.0.0.1 or [::1]): {url!r}"
    )


def _is_loopback_literal(host: str | None) -> bool:
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


def fetch_json(url: str, timeout: float) -> Any:
    """GETs `url` and parses its JSON body; redirects are not followed, the size is bounded.

    Only a secure URL (`require_secure_url`) is fetched."""
    try:
        require_secure_url(url)
    except InsecureUrl as exc:
        raise KeysUnavailable(str(exc)) from exc
    opener = urllib.request.build_opener(_NoRedirect())
    request = urllib.request.Request(url, headers={"Accept": "application/json"})  # noqa: S310
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(MAX_JWKS_BYTES + 1)
    except OSError as exc:  # URLError, HTTPError, timeouts and socket errors
        raise KeysUnavailable(f"cannot fetch {url}: {exc}") from exc
    if len(body) > MAX_JWKS_BYTES:
        raise KeysUnavailable(f"{url} returned more than {MAX_JWKS_BYTES} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise KeysUnavailable(f"{url} did not return JSON") from exc


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def public_keys_from_jwks(document: Any) -> dict[str, RSAPublicKey]:
    """The RS256 signing keys of a JWKS by `kid`; other keys and malformed entries are skipped.

    Only the public members are read, so a JWKS that wrongly carried private members could
    never turn into a private key here.
    """
    entries = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(entries, list):
        raise KeysUnavailable("the JWKS has no `keys` list")
    keys: dict[str, RSAPublicKey] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": entry["n"], "e": entry["e"]})
        except (KeyError, ValueError, TypeError, jwt.InvalidKeyError):
            continue
        if isinstance(key, RSAPublicKey) and key.key_size >= MIN_RSA_BITS:
            keys[kid] = key
    return keys


@dataclass(frozen=True)
class _KeySet:
    keys: dict[str, RSAPublicKey]
    fetched_at: float


class JwksCache:
    """The issuer's public keys, fetched from its JWKS and kept for `max_age` seconds.

    The JWKS is at `url`, or, given `issuer` instead, at the `jwks_uri` of the issuer's
    discovery document (`{issuer}/.well-known/openid-configuration`), read with the first
    fetch, not at construction. The keys are taken from that document only when it names this
    very issuer and a secure `jwks_uri`: KeysUnavailable otherwise. The `jwks_uri` found is
    kept; after a failed fetch the next attempt reads the document again, in case the issuer
    moved its keys (no extra request while fetches succeed).

    The URL (or the discovery document's) must be `https://` (or `http://` to a loopback IP
    literal): InsecureUrl at construction otherwise, so a misconfiguration fails at start-up,
    not at the first token.

    An unknown `kid` (a key rotated in since the last fetch) triggers a refetch, but fetches
    other than the periodic one happen at most once per `min_refetch_interval` seconds, so a
    flood of tokens with made-up `kid`s costs the JWKS endpoint one request per interval.
    Failed fetches count too. When a fetch fails, the keys already held keep working for
    `max_stale` seconds past their age, so a short outage of the issuer does not stop
    verification; after that (or with nothing cached) `KeysUnavailable` is raised.

    Thread-safe: readers take no lock; one thread fetches, and the others wait for it only
    when the keys held do not have the `kid` they need.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        issuer: str | None = None,
        max_age: float = 300.0,
        min_refetch_interval: float = 30.0,
        max_stale: float = 3600.0,
        timeout: float = 5.0,
        fetch: Fetch = fetch_json,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if (url is None) == (issuer is None):
            raise ValueError("JwksCache takes either the JWKS url or the issuer")
        self.issuer = issuer.rstrip("/") if issuer is not None else None
        self.discovery_url = (
            require_secure_url(self.issuer + DISCOVERY_PATH, what="the discovery document URL")
            if self.issuer is not None
            else None
        )
        self._jwks_url = require_secure_url(url) if url is not None else None
        self.max_age = max_age
        self.min_refetch_interval = min_refetch_interval
        self.max_stale = max_stale
        self.timeout = timeout
        # Attempts, successful or not, a discovery read included (tests and the bench read it).
        self.fetches = 0
        self._fetch = fetch
        self._clock = clock
        self._lock = threading.Lock()
        self._key_set: _KeySet | None = None
        self._last_attempt: float | None = None
        self._last_forced: float | None = None

    @property
    def url(self) -> str | None:
        """The JWKS URL: the one given, or the discovery document's `jwks_uri` once read."""
        return self._jwks_url

    def key(self, kid: str) -> RSAPublicKey:
        """The public key for `kid`; raises InvalidToken for a kid the issuer does not publish."""
        held = key_set = self._key_set
        if key_set is None or self._clock() - key_set.fetched_at >= self.max_age:
            # With the key in hand, do not queue behind a fetch already under way (a slow or
            # blackholed issuer would stall every request for the timeout): use it meanwhile.
            known = key_set is not None and kid in key_set.keys
            key_set = self._refresh(forced=False, wait=not known)
        key = key_set.keys.get(kid)
        if key is None and key_set is held:  # keys fetched just now need no second fetch
            key = self._refresh(forced=True).keys.get(kid)
        if key is None:
            raise InvalidToken("unknown kid", UNKNOWN_KEY)
        return key

    def _refresh(self, *, forced: bool, wait: bool = True) -> _KeySet:
        """Fetches the JWKS unless the rate limit says no; returns the keys to use now.

        Periodic fetches wait `min_refetch_interval` after any attempt (so a down issuer is
        retried at that pace), forced ones (unknown kid) after the last forced one (so a
        periodic fetch just before does not delay picking up a rotated key). Without `wait`,
        a fetch under way in another thread means: use the keys held.
        """
        if not self._lock.acquire(blocking=wait):
            return self._usable(self._key_set, self._clock())
        try:
            now = self._clock()
            held = self._key_set
            if not forced and held is not None and now - held.fetched_at < self.max_age:
                return held  # another thread fetched while this one waited
            last = self._last_forced if forced else self._last_attempt
            if last is not None and now - last < self.min_refetch_interval:
                return self._usable(held, now)
            self._last_attempt = now
            if forced:
                self._last_forced = now
            self.fetches += 1
            try:
                keys = public_keys_from_jwks(self._fetch(self._jwks_location(), self.timeout))
            except (KeysUnavailable, OSError, ValueError) as exc:  # a custom fetch may raise these
                if self.discovery_url is not None:
                    self._jwks_url = None  # the next attempt asks the discovery document again
                return self._usable(held, now, exc)
            self._key_set = _KeySet(keys, now)
            return self._key_set
        finally:
            self._lock.release()

    def _jwks_location(self) -> str:
        """The JWKS URL given or found, else the one the discovery document names now."""
        if self._jwks_url is None:
            self._jwks_url = self._discover()
        return self._jwks_url

    def _discover(self) -> str:
        """The discovery document's `jwks_uri`, only when the document names this issuer
        (exactly) and the URL is secure; KeysUnavailable otherwise."""
        issuer, where = self.issuer, self.discovery_url
        if issuer is None or where is None:
            raise KeysUnavailable("neither a JWKS URL nor an issuer to discover it from")
        document = self._fetch(where, self.timeout)
        if not isinstance(document, Mapping) or document.get("issuer") != issuer:
            found = document.get("issuer") if isinstance(document, Mapping) else None
            raise KeysUnavailable(f"{where} names the issuer {found!r}, not {issuer!r}")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise KeysUnavailable(f"{where} names no jwks_uri")
        try:
            return require_secure_url(jwks_uri, what="the discovery document's jwks_uri")
        except InsecureUrl as exc:
            raise KeysUnavailable(str(exc)) from exc

    def _usable(self, held: _KeySet | None, now: float, cause: Exception | None = None) -> _KeySet:
        """The keys already held, while they are not older than `max_age + max_stale`."""
        where = self._jwks_url or self.discovery_url
        if held is None:
            detail = f": {cause}" if cause is not None else ""
            raise KeysUnavailable(f"no signing keys from {where}{detail}") from cause
        if now - held.fetched_at >= self.max_age + self.max_stale:
            raise KeysUnavailable(f"the keys from {where} are too old to trust") from cause
        return held


@dataclass(frozen=True, slots=True)
class MicroPrincipal:
    """A verified caller, usable as DRF's `request.user` (no database row behind it)."""

    user_id: uuid.UUID
    username: str
    kind: str  # "user" or "service"
    group_ids: tuple[uuid.UUID, ...]
    scopes: frozenset[str]
    client_id: str | None
    jti: str
    expires_at: int
    amr: tuple[str, ...] = ()
    # True for the gateway's upstream token: the gateway asserts who the caller is, for a
    # credential this service never saw (a key, an app's token, a session).
    via_gateway: bool = False
    # An upstream token's `src_amr`: how the caller signed in to the gateway, for information
    # only (its `amr` is always empty). Empty for an access token.
    src_amr: tuple[str, ...] = ()
    # The audience the token was accepted for (the verifier's), and the `scope` claim's
    # scopes in the order the token lists them (`scopes` is the set the checks use).
    audience: str = ""
    scope_list: tuple[str, ...] = ()

    is_authenticated = True
    is_anonymous = False
    is_active = True

    @property
    def pk(self) -> uuid.UUID:
        return self.user_id

    @property
    def id(self) -> uuid.UUID:
        return self.user_id

    @property
    def token_id(self) -> str:
        """The token's `jti`."""
        return self.jti

    @property
    def groups(self) -> tuple[str, ...]:
        """The group ids as the token writes them."""
        return tuple(str(group_id) for group_id in self.group_ids)

    def has_scope(self, scope: str) -> bool:
        """Held directly, or a Micro scope implied by `api_admin` (the service's own rule)."""
        return scope_granted(self.scopes, scope)

    @property
    def is_personal_sign_in(self) -> bool:
        """A person signed in themselves (`pwd` in `amr`, no third-party app); never for an
        upstream token, whatever its `amr` says: the gateway vouches for a request, not for
        how its credential was obtained."""
        if self.via_gateway:
            return False
        return personal_sign_in(self.amr, self.client_id)


def principal_from_claims(
    claims: Mapping[str, Any], *, via_gateway: bool = False, audience: str | None = None
) -> MicroPrincipal:
    """The principal of verified claims; raises InvalidToken when a claim is malformed.

    `audience` is the one the claims were accepted for (default: `aud` when it is a string).

    Claims of an upstream token always give a `via_gateway` principal with an empty `amr`
    (the caller's methods in `src_amr`): its signed `token_type` claim says `upstream`, so
    passing them here without the flag cannot turn them into a person's sign-in."""
    try:
        user_id = uuid.UUID(str(claims["sub"]))
        groups = claims.get("groups", [])
        if not isinstance(groups, list):
            raise InvalidToken("malformed groups claim")
        group_ids = tuple(uuid.UUID(str(group)) for group in groups)
    except ValueError as exc:
        raise InvalidToken("malformed sub or groups claim") from exc
    kind, scope = claims.get("kind", "user"), claims.get("scope", "")
    if kind not in ("user", "service") or not isinstance(scope, str):
        raise InvalidToken("malformed kind or scope claim")
    via_gateway = via_gateway or claims.get("token_type") == UPSTREAM_TOKEN_TYPE_CLAIM
    amr = _methods(claims, "amr")
    # An upstream token signed before `src_amr` existed carried the methods in `amr`.
    src_amr = _methods(claims, "src_amr") if "src_amr" in claims else amr
    client_id = claims.get("client_id")
    if audience is None:
        audience = claims["aud"] if isinstance(claims.get("aud"), str) else ""
    return MicroPrincipal(
        user_id=user_id,
        username=str(claims.get("username", "")),
        kind=kind,
        group_ids=group_ids,
        scopes=frozenset(scope.split()),
        client_id=str(client_id) if client_id else None,
        jti=str(claims["jti"]),
        expires_at=int(claims["exp"]),
        amr=() if via_gateway else amr,
        via_gateway=via_gateway,
        src_amr=src_amr if via_gateway else (),
        audience=audience,
        scope_list=tuple(scope.split()),
    )


def _methods(claims: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """An authentication-methods claim (`amr`, `src_amr`): a list of strings, or absent."""
    methods = claims.get(name, [])
    if not isinstance(methods, list):
        raise InvalidToken(f"malformed {name} claim")
    return tuple(str(method) for method in methods)


def _header(token: str) -> dict[str, Any]:
    """The unverified JOSE header, decoded by hand (cheaper than a full unverified decode)."""
    if len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise InvalidToken("malformed token", MALFORMED)
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error) as exc:
        raise InvalidToken("malformed header") from exc
    if not isinstance(header, dict):
        raise InvalidToken("malformed header")
    return header


# PyJWT's refusals as reasons; the first match in this order wins (InvalidSignatureError is a
# DecodeError, so it comes before it).
_PYJWT_REASONS: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.InvalidSignatureError, BAD_SIGNATURE),
    (jwt.MissingRequiredClaimError, MISSING_CLAIM),
    (jwt.InvalidIssuerError, WRONG_ISSUER),
    (jwt.InvalidAudienceError, WRONG_AUDIENCE),
    (jwt.ExpiredSignatureError, EXPIRED),
    (jwt.ImmatureSignatureError, NOT_YET_VALID),
)
# The time claims, checked here against the verifier's clock rather than by PyJWT (which reads
# the system clock); `require` still makes PyJWT refuse a token without `exp` or `iat`.
_DECODE_OPTIONS: Options = {
    "require": list(REQUIRED_CLAIMS),
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
}


def _reason(exc: jwt.PyJWTError) -> str:
    return next((reason for kind, reason in _PYJWT_REASONS if isinstance(exc, kind)), MALFORMED)


def _instant(claims: Mapping[str, Any], name: str) -> float | None:
    """A time claim (seconds since the epoch), None when absent; InvalidToken when not a number."""
    value = claims.get(name)
    if value is None:
        return None
    # An instant no clock can reach (inf, nan, a bool) is malformed, never compared.
    if isinstance(value, bool) or not isinstance(value, int | float) or not isfinite(value):
        raise InvalidToken(f"the {name} claim is not a finite number", MALFORMED)
    return float(value)


class TokenVerifier:
    """Verifies Micro access tokens against the issuer's JWKS (one instance per process).

    The JWKS is the one the issuer's discovery document names (`jwks_uri`), unless `jwks_url`
    says where it is; `jwks` hands in a cache built elsewhere.

    Access tokens only: the gateway's upstream token is refused (its `typ` and audience).
    Every refusal is an InvalidToken whose `reason` says why; `clock` (seconds since the
    epoch) judges `exp`, `nbf` and `iat`, with `leeway` seconds (at most `MAX_LEEWAY`).
    """

    token_typ = ACCESS_TOKEN_TYP
    # Whether this verifier takes the gateway's upstream tokens (whose signed `token_type`
    # claim says `upstream`) rather than access tokens.
    via_gateway = False

    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        jwks_url: str | None = None,
        leeway: int = 30,
        jwks: JwksCache | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not 0 <= leeway <= MAX_LEEWAY:
            raise ValueError(f"leeway must be between 0 and {MAX_LEEWAY} seconds: {leeway}")
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self.leeway = leeway
        self.clock = clock
        if jwks is None:
            jwks = JwksCache(jwks_url) if jwks_url else JwksCache(issuer=self.issuer)
        self.jwks = jwks

    def claims(self, token: str) -> dict[str, Any]:
        """The verified claims of `token`; raises InvalidToken (or KeysUnavailable).

        The header is judged before any key is looked up, so a token naming key material or
        another algorithm never causes a JWKS fetch."""
        key = self.jwks.key(self._kid(_header(token)))
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.audience,
                issuer=self.issuer,
                options=_DECODE_OPTIONS,
            )
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc), _reason(exc)) from exc
        self._check_times(claims)
        # The signed claim must name the same kind as the header: an upstream token is never
        # an access token, whichever `typ` it was given.
        if (claims.get("token_type") == UPSTREAM_TOKEN_TYPE_CLAIM) != self.via_gateway:
            raise InvalidToken("the token_type claim names the other kind of token", WRONG_TYPE)
        return claims

    def _kid(self, header: Mapping[str, Any]) -> str:
        """The `kid` of a header this verifier accepts: RS256, its own `typ`, no key material."""
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("algorithm not allowed", ALGORITHM_REFUSED)
        if header.get("typ") != self.token_typ:
            raise InvalidToken(f"not a {self.token_typ} token", WRONG_TYPE)
        if FORBIDDEN_HEADERS & header.keys():
            raise InvalidToken("header names external key material", FORBIDDEN_HEADER)
        kid = header.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= 64:
            raise InvalidToken("missing or malformed kid", FORBIDDEN_HEADER)
        return kid

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        """`exp` not past, `nbf` and `iat` not ahead, each within the leeway."""
        now = self.clock()
        expires = _instant(claims, "exp")
        not_before, issued = _instant(claims, "nbf"), _instant(claims, "iat")
        if expires is not None and expires <= now - self.leeway:
            raise InvalidToken("the token has expired", EXPIRED)
        for name, instant in (("nbf", not_before), ("iat", issued)):
            if instant is not None and instant > now + self.leeway:
                raise InvalidToken(f"the token is not yet valid ({name})", NOT_YET_VALID)

    def principal(self, token: str) -> MicroPrincipal:
        """The verified caller of `token`; raises InvalidToken (or KeysUnavailable)."""
        return principal_from_claims(
            self.claims(token), via_gateway=self.via_gateway, audience=self.audience
        )


class UpstreamTokenVerifier(TokenVerifier):
    """Verifies the gateway's upstream token (`X-User-Token`) for a service behind the gateway.

    Upstream tokens only (`typ` `user+jwt`; give it the upstream audience, Micro's
    `MICRO_UPSTREAM_TOKEN_AUDIENCE`): an access token is refused. Its principals have
    `via_gateway` set and are never a person's sign-in.
    """

    token_typ = UPSTREAM_TOKEN_TYP
    via_gateway = True
