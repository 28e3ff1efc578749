"""Revocation of stateless access tokens: by `jti`, by sign-in family (`sid`), or per user.

Each revocation is a database row (durable) mirrored into the shared cache (fast). The check
reads only the cache: one round trip, no query, and none at all for keys this process read
since the credential state generation last changed (authn/state.py: every revocation bumps
it after its commit, so every process sees it within MICRO_REVOCATION_POLL_MS). If the cache
lost its contents (a Redis restart, an eviction) the sentinel key is gone too, and the next
check reloads every live revocation from the database before answering — a revoked token
never comes back to life.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from authn import state
from authn.models import RevokedToken
from authn.tokens.jwt import ISSUED_AT_US_CLAIM

SENTINEL_KEY = "authn:revocations-loaded"
_SLACK_SECONDS = 60
_US = 1_000_000
# A `not_after` below this is whole seconds (rows written before microseconds were recorded).
_LEGACY_SECONDS_BELOW = 10**11


def _key(kind: str, value: str) -> str:
    return f"authn:rev:{kind}:{value}"


def _cache_put(kind: str, value: str, not_after: int, expires_at: datetime) -> None:
    ttl = max(1, int((expires_at - timezone.now()).total_seconds()))
    cache.set(_key(kind, value), not_after, timeout=ttl)


def _revoke(kind: str, value: str, *, expires_at: datetime, not_after: int = 0) -> None:
    RevokedToken.objects.update_or_create(
        kind=kind, value=value, defaults={"expires_at": expires_at, "not_after": not_after}
    )
    _cache_put(kind, value, not_after, expires_at)
    state.state_changed(using=RevokedToken.objects.db)


def _longest_token_expiry() -> datetime:
    return timezone.now() + timedelta(seconds=settings.MICRO_ACCESS_TOKEN_TTL + _SLACK_SECONDS)


def revoke_access_token(*, jti: str, exp: int) -> None:
    """Revokes one access token until its own expiry."""
    expires_at = datetime.fromtimestamp(exp, tz=timezone.get_current_timezone())
    _revoke(RevokedToken.Kind.JTI, jti, expires_at=expires_at + timedelta(seconds=_SLACK_SECONDS))


def revoke_access_token_digest(*, digest: str, expires_at: datetime) -> None:
    """Revokes one OAuth 2.0 access token, known by its SHA-256 (all that is stored of it)."""
    if expires_at <= timezone.now():
        return
    _revoke(
        RevokedToken.Kind.DIGEST, digest, expires_at=expires_at + timedelta(seconds=_SLACK_SECONDS)
    )


def revoke_families(*, family_ids: Iterable[str]) -> None:
    """Revokes every access token issued under these sign-ins (`sid` claim)."""
    expires_at = _longest_token_expiry()
    for family_id in family_ids:
        _revoke(RevokedToken.Kind.FAMILY, str(family_id), expires_at=expires_at)


def revoke_subject(*, user_id: str) -> None:
    """Revokes every access token of the user issued up to this instant (microseconds), so a
    token issued later in the same second, after the change, is not caught by it."""
    _revoke(
        RevokedToken.Kind.SUBJECT,
        str(user_id),
        expires_at=_longest_token_expiry(),
        not_after=time.time_ns() // 1_000,
    )


def _not_after_us(value: int) -> int:
    if value < _LEGACY_SECONDS_BELOW:
        return (value + 1) * _US - 1  # the whole second, as these rows were always read
    return value


def _issued_at_us(claims: Mapping[str, Any]) -> int:
    """When the token was issued, in microseconds. A token without a consistent `iat_us`
    counts as issued at the start of its `iat` second: the earliest it can have been."""
    iat = int(claims.get("iat", 0))
    precise = claims.get(ISSUED_AT_US_CLAIM)
    if type(precise) is int and precise // _US == iat:
        return precise
    return iat * _US


def _reload() -> None:
    now = timezone.now()
    for row in RevokedToken.objects.filter(expires_at__gt=now).iterator():
        _cache_put(row.kind, row.value, row.not_after, row.expires_at)
    # No expiry: a TTL would not protect against eviction (the sentinel, read on every
    # request, is the last key an LRU policy drops) and would add periodic full reloads on the
    # request path. The cache must not evict (README: `maxmemory-policy noeviction`).
    cache.set(SENTINEL_KEY, 1, timeout=None)


def _lookup_keys(claims: Mapping[str, Any], digest: str | None) -> tuple[list[str], str]:
    """The cache keys that revoke the token, and which of them is the subject's."""
    keys = [_key("jti", str(claims.get("jti")))]
    if claims.get("parent_jti"):  # an upstream token dies with the access token it came from
        keys.append(_key("jti", str(claims["parent_jti"])))
    if claims.get("sid"):
        keys.append(_key("sid", str(claims["sid"])))
    for token_digest in (digest, claims.get("parent_digest")):
        if token_digest:
            keys.append(_key(RevokedToken.Kind.DIGEST, str(token_digest)))
    subject_key = _key("sub", str(claims.get("sub")))
    keys.append(subject_key)
    return keys, subject_key


def _fetch(keys: list[str]) -> dict[str, Any]:
    """The revocations among `keys` in the shared cache, reloaded first if the cache lost them."""
    found = cache.get_many([SENTINEL_KEY, *keys])
    if SENTINEL_KEY not in found:
        _reload()
        found = cache.get_many([SENTINEL_KEY, *keys])
    found.pop(SENTINEL_KEY, None)
    return found


def _found(keys: list[str], *, fresh: bool) -> dict[str, Any]:
    """`_fetch` through the process memo: a key read since the state generation last changed
    (absent ones included) needs no round trip. `fresh` reads the shared cache."""
    epoch = None if fresh else state.memo.epoch()  # before the fetch: see authn/state.py
    if epoch is None:
        return _fetch(keys)
    remembered = {key: state.memo.lookup(("rev", key)) for key in keys}
    if state.MISSING not in remembered.values():
        return {key: value for key, value in remembered.items() if value is not None}
    found = _fetch(keys)
    for key in keys:
        state.memo.store(epoch, ("rev", key), found.get(key))
    return found


def is_revoked(
    claims: Mapping[str, Any], *, digest: str | None = None, fresh: bool = False
) -> bool:
    """True when the verified token's `jti`, `sid`, subject or digest has been revoked; for
    an upstream token, also the `parent_jti` or `parent_digest` of the access token it came from.
    A revocation made elsewhere is seen within MICRO_REVOCATION_POLL_MS of its commit (at once
    with `fresh`, which reads the shared cache); the shared cache unreadable past that raises
    DependencyError (503).

    `digest` is the SHA-256 of an OAuth 2.0 access token (see `revoke_access_token_digest`).
    """
    keys, subject_key = _lookup_keys(claims, digest)
    for key, value in _found(keys, fresh=fresh).items():
        if key == subject_key:
            if _issued_at_us(claims) <= _not_after_us(int(value)):
                return True
            continue
        return True
    return False


def revocations_cleanup() -> int:
    deleted, _ = RevokedToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
