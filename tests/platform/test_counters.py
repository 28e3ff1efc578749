"""Brute-force counters are atomic and expire, in Redis and in the database table."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from authn import lockout
from authn.sign_in import services as sign_in
from micro_platform import counters
from micro_platform.counters import CacheCounters, CounterStore, DatabaseCounters
from micro_platform.models import Counter
from tests.authn.helpers import TOKEN_URL

THREADS = 20


def _redis_store() -> CounterStore:
    if not settings.REDIS_URL:
        # This pass was told to use no Redis (CI's SQLite pass); CI's PostgreSQL pass sets it.
        pytest.skip("REDIS_URL is not set: the suite uses the in-process cache")
    return CacheCounters()


STORES: dict[str, Callable[[], CounterStore]] = {
    "database": DatabaseCounters,
    "redis": _redis_store,
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, db: Any) -> CounterStore:
    return STORES[request.param]()


@pytest.fixture
def fresh_choice() -> Iterator[None]:
    """Lets a test choose the store again under other settings, and forgets that choice after."""
    counters.counter_store.cache_clear()
    yield
    counters.counter_store.cache_clear()


def test_a_missing_counter_is_zero(store: CounterStore) -> None:
    assert store.get("count:missing") == 0


def test_increments_count_up_and_are_read_back(store: CounterStore) -> None:
    assert [store.incr("count:a", 60) for _ in range(3)] == [1, 2, 3]
    assert store.get("count:a") == 3
    assert store.get("count:b") == 0
    assert store.incr("count:b", 60) == 1


def test_delete_forgets_the_counts(store: CounterStore) -> None:
    store.incr("count:a", 60)
    store.incr("count:b", 60)
    store.incr("count:c", 60)
    store.delete("count:a", "count:b")
    assert (store.get("count:a"), store.get("count:b"), store.get("count:c")) == (0, 0, 1)
    assert store.incr("count:a", 60) == 1


def test_deleting_no_keys_changes_nothing(store: CounterStore) -> None:
    store.incr("count:kept", 60)
    store.delete()
    assert store.get("count:kept") == 1


def test_a_delete_in_a_rolled_back_transaction_keeps_the_count(db: Any) -> None:
    # Sign-in ends a run of failures inside its transaction: a refused sign-in keeps it.
    store = DatabaseCounters()
    store.incr("count:run", 60)
    with pytest.raises(RuntimeError), transaction.atomic():
        store.delete("count:run")
        assert store.get("count:run") == 0
        raise RuntimeError("sign-in refused")
    assert store.get("count:run") == 1


def test_a_count_expires_after_its_timeout(store: CounterStore) -> None:
    store.incr("count:short", 1)
    assert store.incr("count:short", 1) == 2
    time.sleep(1.3)
    assert store.get("count:short") == 0
    assert store.incr("count:short", 1) == 1


def test_the_window_is_fixed_from_the_first_increment(db: Any) -> None:
    store = DatabaseCounters()
    store.incr("count:w", 60)
    first = Counter.objects.get(key="count:w").expires_at
    store.incr("count:w", 600)
    assert Counter.objects.get(key="count:w").expires_at == first


def test_an_expired_row_restarts_at_one_with_a_new_expiry(db: Any) -> None:
    store = DatabaseCounters()
    for _ in range(5):
        store.incr("count:old", 60)
    Counter.objects.filter(key="count:old").update(expires_at=timezone.now() - timedelta(1))
    assert store.get("count:old") == 0
    assert store.incr("count:old", 60) == 1
    row = Counter.objects.get(key="count:old")
    assert row.value == 1 and row.expires_at > timezone.now() + timedelta(seconds=50)


@pytest.mark.parametrize(
    ("backend", "expected"),
    [
        ("django_redis.cache.RedisCache", CacheCounters),
        ("django.core.cache.backends.redis.RedisCache", CacheCounters),
        ("django.core.cache.backends.db.DatabaseCache", DatabaseCounters),
        ("django.core.cache.backends.locmem.LocMemCache", DatabaseCounters),
    ],
)
def test_the_store_follows_the_cache_backend_and_is_chosen_once(
    backend: str, expected: type, fresh_choice: None, settings: Any
) -> None:
    settings.CACHES = {"default": {"BACKEND": backend, "LOCATION": "redis://127.0.0.1:6379/0"}}
    chosen = counters.counter_store()
    assert isinstance(chosen, expected)
    assert counters.counter_store() is chosen


# --- concurrency (PostgreSQL) ------------------------------------------------------------------


def _in_threads(count: int, work: Callable[[], Any]) -> list[Any]:
    """Runs `work` in `count` threads started together; returns what each returned."""
    barrier, results = threading.Barrier(count), list[Any]()

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(work())
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return results


@pytest.mark.django_db(transaction=True)
def test_parallel_increments_on_postgresql_lose_no_count() -> None:
    """20 threads increment one key at once and the count ends at exactly 20.

    `BaseCache.incr` (what Django's database cache uses) is `get`, add, `set`: threads that
    read the same value all write back value + 1, so most increments are lost. Here each
    increment is one UPDATE holding the row lock, and a first increment that loses the race
    to insert the row retries as an UPDATE, so every thread gets a distinct count.
    """
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL")
    key = f"count:race:{uuid.uuid4()}"
    results = _in_threads(THREADS, lambda: DatabaseCounters().incr(key, 60))
    assert sorted(results) == list(range(1, THREADS + 1))
    assert DatabaseCounters().get(key) == THREADS


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_without_redis_lock_after_at_most_ten_checks(
    user: User, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """12 wrong passwords for one account at once, with the database cache and counter table
    (production without REDIS_URL): at most 10 passwords are checked and the account locks."""
    if connection.vendor != "postgresql":
        pytest.skip("row-level concurrency is exercised on PostgreSQL")
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "micro_counters_test_cache",
        }
    }
    call_command("createcachetable", verbosity=0)
    monkeypatch.setattr(counters, "counter_store", DatabaseCounters)
    checks = _count_password_checks(monkeypatch)
    try:
        statuses = _in_threads(12, lambda: _post_wrong_password(user))
        assert sorted(statuses) == sorted([401] * len(checks) + [429] * (12 - len(checks)))
        assert len(checks) <= settings.MICRO_LOCKOUT_THRESHOLD
        assert lockout.account_wait(login=f"account:{user.pk}") > 0
    finally:
        cache.clear()


def _count_password_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    checks, real = list[int](), sign_in.password_verify

    def counted(**kwargs: Any) -> bool:
        checks.append(1)
        time.sleep(0.05)  # a slow hash widens the window in which attempts overlap
        return real(**kwargs)

    monkeypatch.setattr(sign_in, "password_verify", counted)
    return checks


def _post_wrong_password(user: User) -> int:
    body = {"username": user.username, "password": "definitely not it"}
    return APIClient(REMOTE_ADDR="198.51.100.7").post(TOKEN_URL, body, format="json").status_code
