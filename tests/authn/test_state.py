"""The credential state generation and each process's memo (authn/state.py): a revocation or a
key change made elsewhere applies within MICRO_REVOCATION_POLL_MS, the process that made it
sees it at once, a clean check needs no round trip, and an unreadable cache fails closed.

Each test runs on the suite's shared cache (Redis when REDIS_URL is set) and on the database
cache used without Redis. "Elsewhere" is another process: it writes the shared cache and the
database only, never this process's memo. Time is the memo's own clock, moved by hand.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from django.core.cache import cache, caches
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from authn import state
from authn.api_keys import cache as api_key_cache
from authn.api_keys.services import InvalidApiKey, api_key_authenticate, api_key_create
from authn.models import ApiKey, RevokedToken
from authn.oauth.views import introspect
from authn.state import STATE_GENERATION_KEY, CredentialMemo
from authn.tokens import revocation
from authn.tokens.authentication import BearerTokenAuthentication
from micro_platform.errors import DependencyError
from micro_platform.settings import base
from tests.authn.helpers import ME_URL, profile_token
from tests.conftest import StateClock


@pytest.fixture(params=["suite", "database"])
def shared_cache(request: pytest.FixtureRequest, db: Any, settings: Any) -> Iterator[str]:
    if request.param == "database":
        settings.CACHES = {"default": {**base.DATABASE_CACHE, "LOCATION": "micro_state_test"}}
        call_command("createcachetable", verbosity=0)
        cache.clear()
    yield request.param


@pytest.fixture
def clock(state_clock: StateClock, shared_cache: str) -> StateClock:
    return state_clock


class CacheCalls:
    """Counts the shared cache's reads (a `get` the backend makes a `get_many` counts once)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._depth = 0
        backend = caches["default"]
        for name in ("get", "get_many"):
            original = getattr(backend, name)
            monkeypatch.setattr(backend, name, self._counting(original))

    def _counting(self, original: Any) -> Any:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.count += self._depth == 0
            self._depth += 1
            try:
                return original(*args, **kwargs)
            finally:
                self._depth -= 1

        return counted


def elsewhere_revokes(jti: str) -> None:
    """Another process revokes the token: its row, its cache entry, the bump after commit."""
    RevokedToken.objects.create(
        kind=RevokedToken.Kind.JTI, value=jti, expires_at=revocation._longest_token_expiry()
    )
    revocation._cache_put("jti", jti, 0, revocation._longest_token_expiry())
    elsewhere_bumps()


def elsewhere_bumps() -> None:
    """Another process bumps the state generation (this process's memo is not its)."""
    cache.get_or_set(STATE_GENERATION_KEY, time.time_ns(), timeout=None)
    cache.incr(STATE_GENERATION_KEY)


def accepted(token: str) -> bool:
    request = Request(APIRequestFactory().get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {token}"))
    try:
        BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return False
    return True


def jti_of(token: str) -> str:
    return str(jwt.decode(token, options={"verify_signature": False})["jti"])


def test_a_clean_token_is_checked_again_without_a_cache_read(
    user: User, clock: StateClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = profile_token(user)
    assert accepted(token)
    calls = CacheCalls(monkeypatch)
    for _ in range(5):
        assert accepted(token)
    assert calls.count == 0
    clock.poll_due()
    assert accepted(token)
    assert calls.count == 1  # the generation only: unchanged, the memo stays


def test_a_revocation_elsewhere_is_refused_after_the_next_poll(
    user: User, clock: StateClock
) -> None:
    token = profile_token(user)
    assert accepted(token)
    elsewhere_revokes(jti_of(token))
    assert accepted(token)  # within the bound: this process has not polled yet
    clock.poll_due()
    assert not accepted(token)


def test_an_answer_is_kept_no_longer_than_the_memo_max_age(
    user: User, clock: StateClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = profile_token(user)
    assert accepted(token)
    # Revoked elsewhere, but its bump was lost (the cache failed right after the commit).
    jti = jti_of(token)
    RevokedToken.objects.create(
        kind=RevokedToken.Kind.JTI, value=jti, expires_at=revocation._longest_token_expiry()
    )
    revocation._cache_put("jti", jti, 0, revocation._longest_token_expiry())
    clock.poll_due()
    assert accepted(token)  # the generation is unchanged: the memo answers
    later = time.time() + state.MEMO_MAX_AGE_SECONDS + 1
    monkeypatch.setattr(state.time, "time", lambda: later)
    assert not accepted(token)


def test_the_revoking_process_refuses_at_once_even_before_the_commit(
    user: User, clock: StateClock, django_capture_on_commit_callbacks: Any
) -> None:
    token = profile_token(user)
    assert accepted(token)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        revocation.revoke_subject(user_id=str(user.pk))
        assert not accepted(token)
    assert callbacks  # the shared bump waits for the commit


def test_every_revocation_bumps_the_generation_after_its_commit(
    user: User, clock: StateClock, django_capture_on_commit_callbacks: Any
) -> None:
    revokes = [
        lambda: revocation.revoke_access_token(jti="a" * 32, exp=int(time.time()) + 60),
        lambda: revocation.revoke_access_token_digest(
            digest="b" * 64, expires_at=revocation._longest_token_expiry()
        ),
        lambda: revocation.revoke_families(family_ids=["c" * 32]),
        lambda: revocation.revoke_subject(user_id=str(user.pk)),
        lambda: api_key_cache.user_changed(user_id=user.pk),
        lambda: api_key_cache.groups_changed(),
    ]
    for revoke in revokes:
        state.memo.epoch()
        before = cache.get(STATE_GENERATION_KEY)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            revoke()
        assert cache.get(STATE_GENERATION_KEY) == before  # not before the commit
        for callback in callbacks:
            callback()
        assert cache.get(STATE_GENERATION_KEY) != before


def test_a_user_save_of_last_login_alone_keeps_what_is_remembered(
    user: User, clock: StateClock, django_capture_on_commit_callbacks: Any
) -> None:
    """Django stamps `last_login` on each dashboard sign-in; no memo holds it."""
    state.memo.epoch()
    before = cache.get(STATE_GENERATION_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        user.save(update_fields=["last_login"])
    assert cache.get(STATE_GENERATION_KEY) == before
    with django_capture_on_commit_callbacks(execute=True):
        user.save(update_fields=["last_login", "is_active"])
    assert cache.get(STATE_GENERATION_KEY) != before


def test_an_emptied_cache_clears_the_memo_and_reloads_the_revocations(
    user: User, clock: StateClock
) -> None:
    token = profile_token(user)
    assert accepted(token)
    RevokedToken.objects.create(
        kind=RevokedToken.Kind.JTI,
        value=jti_of(token),
        expires_at=revocation._longest_token_expiry(),
    )
    cache.clear()  # a Redis restart: the generation and the "loaded" marker are gone too
    clock.poll_due()
    assert not accepted(token)


def test_an_unreadable_cache_answers_from_memory_only_within_the_bound(
    user: User, clock: StateClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {profile_token(user)}")
    assert client.get(ME_URL).status_code == 200

    def down(*args: Any, **kwargs: Any) -> Any:
        raise RedisConnectionError("the cache is down")

    backend = caches["default"]
    for name in ("get", "get_many", "add", "set", "incr"):
        monkeypatch.setattr(backend, name, down)
    assert client.get(ME_URL).status_code == 200  # within one poll interval
    clock.poll_due()
    response = client.get(ME_URL)
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "dependency_unavailable"
    assert client.get(ME_URL).status_code == 503  # every check polls again, and fails


def test_a_poll_interval_of_zero_reads_the_cache_on_every_check(
    user: User, clock: StateClock, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.MICRO_REVOCATION_POLL_MS = 0
    token = profile_token(user)
    assert accepted(token)
    calls = CacheCalls(monkeypatch)
    assert accepted(token)
    assert accepted(token)
    assert calls.count == 2
    elsewhere_revokes(jti_of(token))
    assert not accepted(token)  # no poll to wait for


def test_an_answer_fetched_before_a_change_is_not_kept_after_it(clock: StateClock) -> None:
    epoch = state.memo.epoch()
    elsewhere_bumps()  # a change commits while the fetch is in flight
    clock.poll_due()
    state.memo.epoch()  # another thread polls and drops the memo
    state.memo.store(epoch, ("rev", "k"), None)
    assert state.memo.lookup(("rev", "k")) is state.MISSING
    state.memo.store(state.memo.epoch(), ("rev", "k"), None)
    assert state.memo.lookup(("rev", "k")) is None


def test_the_memo_keeps_a_bounded_number_of_answers() -> None:
    memo = CredentialMemo(size=3)
    epoch = memo._epoch
    for number in range(5):
        memo.store(epoch, number, number)
    assert [memo.lookup(number) for number in range(5)] == [state.MISSING] * 2 + [2, 3, 4]


def mint(owner: User) -> str:
    return api_key_create(
        owner=owner, name="k", scopes=("profile",), expires_in_days=5, actor=None
    ).key


def test_an_api_key_memo_hit_needs_no_query_and_no_cache_read(
    user: User, clock: StateClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = mint(user)
    api_key_authenticate(raw=raw)
    calls = CacheCalls(monkeypatch)
    with CaptureQueriesContext(connection) as queries:
        api_key_authenticate(raw=raw)
    assert (len(queries), calls.count) == (0, 0)


def test_a_key_revoked_elsewhere_is_refused_after_the_next_poll(
    user: User, clock: StateClock
) -> None:
    raw = mint(user)
    api_key_authenticate(raw=raw)
    ApiKey.objects.filter(prefix=raw.split("_")[1]).update(revoked_at=revocation.timezone.now())
    cache.incr(api_key_cache.user_generation_key(user.pk))  # the other process's bumps
    elsewhere_bumps()
    api_key_authenticate(raw=raw)  # within the bound
    clock.poll_due()
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=raw)


def test_an_owner_deactivated_elsewhere_is_refused_after_the_next_poll(
    user: User, clock: StateClock
) -> None:
    raw = mint(user)
    api_key_authenticate(raw=raw)
    User.objects.filter(pk=user.pk).update(is_active=False)
    cache.incr(api_key_cache.user_generation_key(user.pk))
    elsewhere_bumps()
    clock.poll_due()
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=raw)


def test_a_remembered_api_key_entry_lapses_with_the_shared_entry(
    user: User, clock: StateClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`last_used_at` is still written once a minute: the memo never outlives the entry."""
    raw = mint(user)
    api_key_authenticate(raw=raw)
    prefix = raw.split("_")[1]
    ApiKey.objects.filter(prefix=prefix).update(last_used_at=None)
    cache.delete(api_key_cache.entry_key(prefix))  # the shared entry lapsed
    later = time.time() + api_key_cache.ENTRY_TTL_SECONDS + 1
    monkeypatch.setattr(state.time, "time", lambda: later)
    api_key_authenticate(raw=raw)
    assert ApiKey.objects.get(prefix=prefix).last_used_at is not None


def test_a_failed_poll_raises_a_dependency_error(
    clock: StateClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    state.memo.epoch()
    clock.poll_due()
    monkeypatch.setattr(caches["default"], "get", lambda *a, **k: 1 / 0)
    with pytest.raises(DependencyError):
        state.memo.epoch()


def test_introspection_sees_a_revocation_elsewhere_at_once(user: User, clock: StateClock) -> None:
    """Introspection is how a service learns of a revocation at once: it skips the memo."""
    token, raw = profile_token(user), mint(user)
    assert accepted(token)
    api_key_authenticate(raw=raw)
    elsewhere_revokes(jti_of(token))
    ApiKey.objects.filter(prefix=raw.split("_")[1]).update(revoked_at=revocation.timezone.now())
    cache.incr(api_key_cache.user_generation_key(user.pk))
    assert accepted(token)  # the memo, within the bound
    assert introspect(token) == {"active": False}
    assert introspect(raw) == {"active": False}
