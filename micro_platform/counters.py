"""Atomic, expiring counters for the brute-force limits (lockout, IP and one-time-code throttles).

A count must never be lost to a race: parallel wrong guesses would otherwise all read the same
value and slip past the limit. Redis increments atomically, so with django-redis the counters
are cache keys. Any other cache is not safe (Django's `BaseCache.incr`, which the database
cache uses, reads then writes), so without Redis they live in the `Counter` table, incremented
by one upsert that PostgreSQL serialises with the row lock and SQLite with its write lock.

A count expires `timeout` seconds after its first increment (a fixed window). Call these
outside a transaction: inside one, a count is held (and rolled back) with it.
"""

from __future__ import annotations

import functools
from datetime import timedelta
from typing import Protocol

from django.conf import settings
from django.core.cache import cache
from django.db import connections, router, transaction
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
        # One statement, so one short write transaction even for a new key: it inserts the
        # row, or adds one to a live row, or restarts an expired row at 1 in place. PostgreSQL
        # serialises concurrent upserts of one key on its row lock and SQLite on its write
        # lock, so each increment reads back its own count.
        now = timezone.now()
        connection = connections[router.db_for_write(Counter)]
        adapt = connection.ops.adapt_datetimefield_value
        sql = (
            'INSERT INTO "authn_counter" AS c ("key", "value", "expires_at") VALUES (%s, 1, %s) '
            'ON CONFLICT ("key") DO UPDATE SET '
            '"value" = CASE WHEN c."expires_at" > %s THEN c."value" + 1 ELSE 1 END, '
            '"expires_at" = CASE WHEN c."expires_at" > %s '
            'THEN c."expires_at" ELSE excluded."expires_at" END '
            'RETURNING "value"'
        )
        params = (key, adapt(now + timedelta(seconds=timeout)), adapt(now), adapt(now))
        with (
            transaction.mark_for_rollback_on_error(connection.alias),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, params)
            row = cursor.fetchone()
        if row is None:
            raise RuntimeError(f"counter {key!r} could not be incremented")
        return int(row[0])

    # `get` and `delete` are written as SQL, as `incr` is: each sign-in without Redis runs
    # both, and building the ORM's queryset cost ten times the statement (in-process on
    # SQLite, about 220 µs against 20 for the read and 130 against 16 for the delete).
    # Counter has no relations and no delete receivers, so the ORM would run these same
    # DELETEs. Both use the database `incr` writes to: a count is read where it is kept.
    # The writes doom an enclosing atomic block when they fail, as the ORM's writes do.

    def get(self, key: str) -> int:
        connection = connections[router.db_for_write(Counter)]
        sql = 'SELECT "value" FROM "authn_counter" WHERE "key" = %s AND "expires_at" > %s'
        with connection.cursor() as cursor:
            cursor.execute(sql, (key, connection.ops.adapt_datetimefield_value(timezone.now())))
            row = cursor.fetchone()
        return int(row[0]) if row else 0

    def delete(self, *keys: str) -> None:
        if not keys:
            return
        connection = connections[router.db_for_write(Counter)]
        with (
            transaction.mark_for_rollback_on_error(connection.alias),
            connection.cursor() as cursor,
        ):
            cursor.executemany('DELETE FROM "authn_counter" WHERE "key" = %s', [(k,) for k in keys])


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
