"""Shared fixtures: users, API clients authenticated each way, a clean cache per test."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts.models import User
from accounts.principals import principal_for_user
from authn import state as credential_state
from authn.models import SigningKey
from authn.sessions.proof import session_mark_signed_in
from authn.tokens import signing_keys
from authn.tokens.authentication import verified_tokens
from authn.tokens.jwt import access_token_issue
from authn.tokens.signing_keys import key_ring
from micro_platform.health import database_liveness
from permissions import catalogue as registry_snapshot
from tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_component(available: bool, what: str) -> None:
    """Skip a test whose component is missing locally; under CI=true, fail instead."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{what} is required under CI=true but is not available")
    pytest.skip(f"{what} is not available")


# RSA key generation costs ~0.1 s; tests reuse keys generated once per secret key, each test
# still getting distinct keys in order (rotation tests need several).
_KEY_POOLS: dict[str, list[SigningKey]] = {}
_generate_key_row = signing_keys._new_key_row


@pytest.fixture(autouse=True)
def _pooled_signing_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = itertools.count()

    def pooled() -> SigningKey:
        pool = _KEY_POOLS.setdefault(settings.SECRET_KEY, [])
        index = next(taken)
        while len(pool) <= index:
            pool.append(_generate_key_row())
        row = pool[index]
        return SigningKey(
            kid=row.kid,
            algorithm=row.algorithm,
            public_jwk=dict(row.public_jwk),
            private_key_encrypted=row.private_key_encrypted,
        )

    monkeypatch.setattr(signing_keys, "_new_key_row", pooled)


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    cache.clear()
    credential_state.forget_here()
    key_ring.invalidate()
    verified_tokens.clear()
    database_liveness.forget()
    registry_snapshot.forget()
    yield
    cache.clear()
    registry_snapshot.forget()  # rows a test made are rolled back: so is what was read of them


class StateClock:
    """The monotonic clock the credential memo polls by (authn/state.py), moved by hand."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def poll_due(self) -> None:
        """Moves past one MICRO_REVOCATION_POLL_MS: the next check reads the shared generation.

        One millisecond past it: `(now + interval) - now` can round below `interval` (it
        depends on how large the machine's monotonic clock already is), and exactly one
        interval later would then not be a poll."""
        self.advance(settings.MICRO_REVOCATION_POLL_MS / 1000 + 0.001)


@pytest.fixture
def state_clock(monkeypatch: pytest.MonkeyPatch) -> StateClock:
    clock = StateClock()
    fake = type(
        "FakeTime", (), {"monotonic": clock.monotonic, "time": time.time, "time_ns": time.time_ns}
    )
    monkeypatch.setattr(credential_state, "time", fake)
    return clock


@pytest.fixture
def password() -> str:
    return DEFAULT_PASSWORD


@pytest.fixture
def user(db: Any) -> User:
    return UserFactory.create()


@pytest.fixture
def other_user(db: Any) -> User:
    return UserFactory.create()


@pytest.fixture
def admin_user(db: Any) -> User:
    return AdminFactory.create()


@pytest.fixture
def anon_client() -> APIClient:
    return APIClient()


def token_for(user: User, scopes: frozenset[str] | None = None) -> str:
    """An access token for `user` signed with the service's keys (all held scopes by default)."""
    principal = principal_for_user(user, method="jwt", scopes=scopes)
    return access_token_issue(
        subject=user.pk,
        username=user.username,
        kind=user.kind,
        scopes=principal.scopes,
        group_ids=principal.group_ids,
        amr=("pwd",),
        auth_time=int(time.time()),  # as from a password sign-in just now
    ).token


@pytest.fixture
def client_for(db: Any) -> Callable[..., APIClient]:
    """`client_for(user, scopes=None)`: an APIClient sending a bearer access token."""

    def make(user: User, scopes: frozenset[str] | None = None) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, scopes)}")
        return client

    return make


@pytest.fixture
def user_client(client_for: Callable[..., APIClient], user: User) -> APIClient:
    return client_for(user)


@pytest.fixture
def admin_client(client_for: Callable[..., APIClient], admin_user: User) -> APIClient:
    return client_for(admin_user)


@pytest.fixture
def session_client(db: Any) -> Callable[[User], APIClient]:
    """`session_client(user)`: a client logged in through the Django session (CSRF enforced)."""

    def make(user: User) -> APIClient:
        client = APIClient(enforce_csrf_checks=True)
        client.force_login(user)
        session = client.session  # what the sign-in page records: a password sign-in, now
        session_mark_signed_in(session, amr=("pwd",))
        session.save()
        return client

    return make


@contextmanager
def queries_everywhere() -> Iterator[list[str]]:
    """The SQL run on every database inside the block (with OBJECTS_DATABASE_URL, the grants
    database too): a "no query" claim holds for both."""
    found: list[str] = []
    with ExitStack() as stack:
        captured = [
            stack.enter_context(CaptureQueriesContext(connections[alias]))
            for alias in dict.fromkeys(connections)
        ]
        yield found
    found.extend(query["sql"] for context in captured for query in context.captured_queries)


@pytest.fixture
def commits_everywhere(db: Any) -> Callable[[], AbstractContextManager[None]]:
    """`with commits_everywhere():` runs what waits for a commit (cache invalidations, say) on
    every database when the block ends, as django_capture_on_commit_callbacks does on the
    default one: with OBJECTS_DATABASE_URL, roles and the registry commit in the second."""

    @contextmanager
    def capture() -> Iterator[None]:
        with ExitStack() as stack:
            for alias in dict.fromkeys(connections):
                stack.enter_context(TestCase.captureOnCommitCallbacks(using=alias, execute=True))
            yield

    return capture


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Database tests may use every database: with OBJECTS_DATABASE_URL, `objects` and
    `permissions` (grants, and the scope registry every token issue reads) live in a second
    one that checks like /readyz and makemigrations touch."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        wants_db = {"db", "transactional_db"} & set(fixtures)
        marker = item.get_closest_marker("django_db")
        if marker is None:
            if wants_db:
                item.add_marker(pytest.mark.django_db(databases="__all__"))
        elif "databases" not in marker.kwargs:
            everywhere = pytest.mark.django_db(*marker.args, **marker.kwargs, databases="__all__")
            item.add_marker(everywhere, append=False)
