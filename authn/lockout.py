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

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from accounts.models import User
from audit.services import audit_record
from micro_platform.counters import counter_delete, counter_get, counter_incr
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
    failures = counter_get(_ip_key(scope, ip_address, window))
    if failures < settings.MICRO_LOGIN_FAILURES_PER_IP:
        return 0
    return max(1, (window + 1) * IP_WINDOW_SECONDS - now)


def ip_failure_record(*, ip_address: str | None, scope: str = "login") -> None:
    if not ip_address:
        return
    window = int(time.time()) // IP_WINDOW_SECONDS
    counter_incr(_ip_key(scope, ip_address, window), IP_WINDOW_SECONDS)


def account_wait(*, login: str) -> int:
    """Seconds until the account named `login` is unlocked (0: not locked)."""
    unlock_at = cache.get(_lock_key(login_digest(login)))
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
