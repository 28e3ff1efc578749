"""Atomic, expiring counters for the brute-force limits (lockout, IP and one-time-code throttles).

A count must never be lost to a race: parallel wrong guesses would otherwise all read the same
value and slip past the limit. Redis increments atomically, so with django-redis the counters
are cache keys. Any other cache is not safe (Django's `BaseCache.incr`, which the database
cache uses, reads then writes), so without Redis they live in the `Counter` table, incremented
by one UPDATE that PostgreSQL serialises with the row lock and SQLite with its write lock.

A count expires `timeout` seconds after its first increment (a fixed window). Call these
outside a transaction: inside one, a count is held (and rolled back) with it.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from micro_platform.models import Counter

# Cache backends whose `incr` is atomic in the server.
ATOMIC_CACHE_BACKENDS = frozenset(
    {"django_redis.cache.RedisCache", "django.core.cache.backends.redis.RedisCache"}
)
INCR_ATTEMPTS = 3


class CounterStore(Protocol):
    def incr(self, key: str, timeout: int) -> int: ...

    def get(self, key: str) -> int: ...

    def delete(self, *keys: str) -> None: ...


class CacheCounters:
    """Counters as keys of a cache whose `incr` is atomic (Redis INCR)."""

    def incr(self, key: str, timeout: int) -> int:
        for _ in range(INCR_ATTEMPTS):
            cache.add(key, 0, timeout)
            try:
                return int(cache.incr(key))
            except ValueError:  # expired between add and incr: start the window again
                continue
        raise RuntimeError(f"counter {key!r} kept expiring while incremented")

    def get(self, key: str) -> int:
        return int(cache.get(key, 0))

    def delete(self, *keys: str) -> None:
        cache.delete_many(list(keys))


class DatabaseCounters:
    """Counters as `Counter` rows; every increment is counted exactly once, however many run."""

    def incr(self, key: str, timeout: int) -> int:
        for _ in range(INCR_ATTEMPTS):
            value = self._incr_once(key, timeout)
            if value is not None:
                return value
        raise RuntimeError(f"counter {key!r} could not be incremented")

    def _incr_once(self, key: str, timeout: int) -> int | None:
        """The new count, or None when a concurrent first increment won the insert."""
        now = timezone.now()
        expires_at = now + timedelta(seconds=timeout)
        with transaction.atomic():
            # The UPDATE locks the row until commit, so the value read back is this increment's.
            if Counter.objects.filter(key=key, expires_at__gt=now).update(value=F("value") + 1):
                return Counter.objects.values_list("value", flat=True).get(key=key)
            # An expired row restarts at 1 in place; of two racing restarts, PostgreSQL
            # re-checks the condition after the first commits, so only one succeeds.
            expired = Counter.objects.filter(key=key, expires_at__lte=now)
            if expired.update(value=1, expires_at=expires_at):
                return 1
        try:
            with transaction.atomic():
                Counter.objects.create(key=key, value=1, expires_at=expires_at)
        except IntegrityError:  # a concurrent request inserted it first: increment that row
            return None
        return 1

    def get(self, key: str) -> int:
        live = Counter.objects.filter(key=key, expires_at__gt=timezone.now())
        return live.values_list("value", flat=True).first() or 0

    def delete(self, *keys: str) -> None:
        Counter.objects.filter(key__in=keys).delete()


@functools.cache
def counter_store() -> CounterStore:
    """The store for this process, chosen once from the configured default cache backend."""
    if settings.CACHES["default"]["BACKEND"] in ATOMIC_CACHE_BACKENDS:
        return CacheCounters()
    return DatabaseCounters()


def counter_incr(key: str, timeout: int) -> int:
    """Adds one to `key` atomically and returns the new count (1 for a new or expired key)."""
    return counter_store().incr(key, timeout)


def counter_get(key: str) -> int:
    """The current count of `key` (0 when missing or expired)."""
    return counter_store().get(key)


def counter_delete(*keys: str) -> None:
    counter_store().delete(*keys)


def counters_cleanup() -> int:
    """Deletes expired counter rows; returns how many."""
    return Counter.objects.filter(expires_at__lte=timezone.now()).delete()[0]
