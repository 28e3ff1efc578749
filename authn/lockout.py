"""Brute-force protection for every sign-in path: account lockout and a per-IP throttle.

Locks live in Django's shared cache (Redis with `REDIS_URL`, the database cache otherwise) and
counts in the atomic counters of micro_platform.counters, so every worker and instance sees
the same state and parallel attempts cannot slip past a limit. Accounts are keyed by a digest
of the *submitted* login name, normalised: an unknown name locks exactly like a real one, so
the answers never reveal whether an account exists, and no typed name is stored.
"""

from __future__ import annotations

import hashlib
import logging
import time
import uuid
from typing import Any, NamedTuple

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from accounts.models import User
from audit.services import audit_record
from micro_platform.counters import (
    CacheCounters,
    counter_delete,
    counter_get,
    counter_incr,
    counter_store,
)
from micro_platform.identity import Principal

logger = logging.getLogger("micro.auth")

IP_WINDOW_SECONDS = 15 * 60


def login_digest(login: str) -> str:
    """The cache identity of a submitted login name (case- and whitespace-insensitive)."""
    return hashlib.sha256(login.strip().lower().encode()).hexdigest()[:32]


def lockout_subject(*, login: str, user_id: uuid.UUID | None) -> str:
    """What failures are counted under: the account when the name is known, else the name."""
    return f"account:{user_id}" if user_id is not None else login


def _failures_key(digest: str) -> str:
    return f"signin:failures:{digest}"


def _lock_key(digest: str) -> str:
    return f"signin:locked:{digest}"


def _ip_key(scope: str, ip_address: str, window: int) -> str:
    return f"signin:ip:{scope}:{ip_address}:{window}"


def ip_wait(*, ip_address: str | None, scope: str = "login") -> int:
    """Seconds until `ip_address` may try again (0: allowed now)."""
    if not ip_address:
        return 0
    now = int(time.time())
    window = now // IP_WINDOW_SECONDS
    return _ip_wait_after(counter_get(_ip_key(scope, ip_address, window)), now)


def _ip_wait_after(failures: int, now: int) -> int:
    if failures < settings.MICRO_LOGIN_FAILURES_PER_IP:
        return 0
    return max(1, (now // IP_WINDOW_SECONDS + 1) * IP_WINDOW_SECONDS - now)


def ip_failure_record(*, ip_address: str | None, scope: str = "login") -> None:
    if not ip_address:
        return
    window = int(time.time()) // IP_WINDOW_SECONDS
    counter_incr(_ip_key(scope, ip_address, window), IP_WINDOW_SECONDS)


def account_wait(*, login: str) -> int:
    """Seconds until the account named `login` is unlocked (0: not locked)."""
    return _account_wait_until(cache.get(_lock_key(login_digest(login))))


def _account_wait_until(unlock_at: Any) -> int:
    if unlock_at is None:
        return 0
    return max(1, int(unlock_at) - int(time.time()))


def signin_wait(*, login: str, ip_address: str | None) -> int:
    """Seconds before a sign-in for `login` from `ip_address` may be attempted (0: now)."""
    return max(ip_wait(ip_address=ip_address), account_wait(login=login))


def attempt_begin(*, login: str) -> int:
    """Counts an attempt for `login` *before* its password is checked; returns the count.

    Counting first bounds the guesses: of many concurrent attempts, only those numbered up
    to the threshold get a password check, however the requests interleave.
    """
    return counter_incr(_failures_key(login_digest(login)), settings.MICRO_LOCKOUT_SECONDS)


class SignInAttempt(NamedTuple):
    """A sign-in's turn: `wait` seconds when refused (then nothing was counted), else its
    number in the account's run of attempts."""

    wait: int
    number: int


def sign_in_attempt_begin(*, login: str, ip_address: str | None) -> SignInAttempt:
    """The per-IP throttle and the account lock checked, then (only when neither refuses)
    the attempt counted as `attempt_begin` does: with django-redis, in one atomic round trip."""
    redis = _django_redis_client()
    if redis is None:
        wait = signin_wait(login=login, ip_address=ip_address)
        return SignInAttempt(wait, 0 if wait else attempt_begin(login=login))
    now = int(time.time())
    digest = login_digest(login)
    keys = [_lock_key(digest), _failures_key(digest)]
    if ip_address:
        keys.append(_ip_key("login", ip_address, now // IP_WINDOW_SECONDS))
    limit, cooldown = settings.MICRO_LOGIN_FAILURES_PER_IP, settings.MICRO_LOCKOUT_SECONDS
    script = redis.get_client(write=True).register_script(_SIGN_IN_ATTEMPT_SCRIPT)
    failures, unlock_at, number = script(
        keys=[redis.make_key(key) for key in keys], args=[limit, cooldown]
    )
    wait = max(_ip_wait_after(int(failures), now), _account_wait_until(unlock_at or None))
    return SignInAttempt(wait, 0 if wait else int(number))


# KEYS: the lock, the account's count, the IP's failures (when the request has an address);
# ARGV: the IP limit, the count's window. Values are django-redis' plain integers, and the
# count starts as `CacheCounters.incr` starts it (0, expiring with the window, then INCR).
_SIGN_IN_ATTEMPT_SCRIPT = """
local failures = 0
if #KEYS == 3 then failures = tonumber(redis.call('GET', KEYS[3]) or '0') end
local unlock_at = redis.call('GET', KEYS[1])
if unlock_at or failures >= tonumber(ARGV[1]) then return {failures, unlock_at or '', 0} end
redis.call('SET', KEYS[2], 0, 'EX', ARGV[2], 'NX')
return {failures, '', redis.call('INCR', KEYS[2])}
"""


def _django_redis_client() -> Any:
    """django-redis' client of the shared cache when the counters live there (else None)."""
    if not isinstance(counter_store(), CacheCounters):
        return None
    client = getattr(cache, "client", None)
    return client if hasattr(client, "get_client") else None


def over_threshold(count: int) -> bool:
    return count > settings.MICRO_LOCKOUT_THRESHOLD


def failure_record(*, login: str, ip_address: str | None, count: int) -> bool:
    """Records a failed attempt (numbered `count`); True when it locked the account."""
    ip_failure_record(ip_address=ip_address)
    if count < settings.MICRO_LOCKOUT_THRESHOLD:
        return False
    return lock(login=login)


def lock(*, login: str) -> bool:
    """Locks `login` for the cool-down; True for the call that set the lock."""
    cooldown = settings.MICRO_LOCKOUT_SECONDS
    # `add` succeeds once per lock, so concurrent failures lock (and audit) it only once.
    return cache.add(_lock_key(login_digest(login)), int(time.time()) + cooldown, cooldown)


def success_record(*, login: str) -> None:
    """A successful sign-in ends the run of consecutive failures."""
    counter_delete(_failures_key(login_digest(login)))


def account_unlock(*, user: User, actor: Principal | None) -> None:
    """Lifts a lockout of the user and clears its failure count."""
    logins = {lockout_subject(login=user.username, user_id=user.pk)}
    with transaction.atomic():
        audit_record(type="login.unlocked", actor=actor, subject_type="user", subject_id=user.pk)
        transaction.on_commit(lambda: _forget(logins))
    logger.info("login.unlocked user=%s", user.pk)


def _forget(logins: set[str]) -> None:
    digests = [login_digest(login) for login in logins]
    counter_delete(*(_failures_key(d) for d in digests))
    cache.delete_many([_lock_key(d) for d in digests])
