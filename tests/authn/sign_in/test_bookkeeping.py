"""What a password sign-in at the token endpoint costs besides the password hash: its SQL
statements, its write transactions and its Redis round trips (counts, never times)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn import lockout
from authn.mfa import services as mfa_services
from authn.sign_in import selectors as sign_in_selectors
from micro_platform import counters
from tests.authn.helpers import TOKEN_URL
from tests.conftest import queries_everywhere
from tests.factories import DEFAULT_PASSWORD, GroupFactory, MembershipFactory, UserFactory

IP = "198.51.100.20"


def sign_in(user: User, password: str = DEFAULT_PASSWORD, **extra: str) -> Any:
    body = {"username": user.username, "password": password, **extra}
    return APIClient(REMOTE_ADDR=IP).post(TOKEN_URL, body, format="json")


SAVEPOINTS = ("SAVEPOINT", "RELEASE SAVEPOINT")


def statements(captured: CaptureQueriesContext) -> list[str]:
    """The SQL of the block, without the savepoints of the test's own transaction."""
    found = [query["sql"] for query in captured.captured_queries]
    return [query for query in found if not query.startswith(SAVEPOINTS)]


def with_redis() -> bool:
    return isinstance(counters.counter_store(), counters.CacheCounters)


@pytest.fixture
def member(db: Any) -> User:
    """A user in two groups (one granting a scope), with no second factor."""
    user = UserFactory.create()
    MembershipFactory.create(user=user, group=GroupFactory.create(scopes=["users:read"]))
    MembershipFactory.create(user=user)
    return user


def test_a_sign_in_reads_the_user_its_groups_and_factors_in_one_query(member: User) -> None:
    assert sign_in(member).status_code == 200  # warm: signing key, scope registry
    with queries_everywhere() as found:  # the roles may live in the grants database
        response = sign_in(member)
    assert response.status_code == 200
    sql = [query for query in found if not query.startswith(SAVEPOINTS)]
    reads_of_the_account = [
        query
        for query in sql
        if "accounts_membership" in query
        or "otp_totp_totpdevice" in query
        or "webauthncredential" in query
    ]
    assert len(reads_of_the_account) == 1, sql
    # Role assignments (possibly in the grants database), the locked `last_login` stamp that
    # confirms the user is unchanged, then the new rows: on PostgreSQL one statement for the
    # family, its refresh token and both audit events, elsewhere the family, its refresh token
    # and one insert for both audit events; without Redis, three more on the counter table:
    # the IP's failures, the counted attempt and the end of the run of failures.
    new_rows = 1 if connection.vendor == "postgresql" else 3
    assert len(sql) == 3 + new_rows + (0 if with_redis() else 3), sql
    assert set(response.json()["scope"].split()) >= {"users:read"}


def test_a_sign_in_confirms_the_unchanged_user_and_stamps_last_login_in_one_statement(
    member: User,
) -> None:
    with CaptureQueriesContext(connection) as captured:
        response = sign_in(member)
    assert response.status_code == 200
    of_the_user = [
        sql
        for sql in statements(captured)
        if sql.startswith(("UPDATE", "SELECT"))
        and '"accounts_user"' in sql.split("WHERE")[0]
        and "accounts_membership" not in sql
    ]
    assert len(of_the_user) == 1, of_the_user
    assert of_the_user[0].startswith('UPDATE "accounts_user" SET "last_login"')
    assert '"security_stamp"' in of_the_user[0] and '"password"' in of_the_user[0]
    member.refresh_from_db()
    assert member.last_login is not None


def test_a_sign_in_writes_its_audit_events_in_one_insert(member: User) -> None:
    with CaptureQueriesContext(connection) as captured:
        response = sign_in(member)
    assert response.status_code == 200
    # On PostgreSQL, the one statement that also stores the family and its refresh token.
    inserts = [sql for sql in statements(captured) if 'INSERT INTO "authn_audit' in sql]
    assert len(inserts) == 1
    events = list(AuditEvent.objects.order_by("created_at").values_list("type", "data"))
    assert [type_ for type_, _ in events] == ["login.succeeded", "token.issued"]
    family = response.json()
    assert events[0][1]["sid"] and events[1][1]["grant"] == "password" and family["scope"]


@contextmanager
def write_transactions() -> Iterator[list[int]]:
    """How many write transactions the block commits on the default database: each write in
    autocommit is one, and so is each outermost atomic block holding a write."""
    found: list[int] = [0]
    counted: list[Any] = [None]  # the outermost atomic block already counted (kept alive)

    def watch(execute: Callable[..., Any], sql: str, *args: Any) -> Any:
        if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE")):
            outermost = connection.atomic_blocks[0] if connection.in_atomic_block else None
            if outermost is None or outermost is not counted[0]:
                found[0] += 1
                counted[0] = outermost
        return execute(sql, *args)

    with connection.execute_wrapper(watch):
        yield found


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_a_sign_in_without_prior_failures_commits_one_counted_attempt_and_the_sign_in() -> None:
    """The attempt is counted before the password check (that bounds concurrent guesses),
    in one statement; the end of the run commits with the sign-in. With Redis the count is
    not in the database at all."""
    user = UserFactory.create()
    assert sign_in(user).status_code == 200
    with write_transactions() as found:
        assert sign_in(user).status_code == 200
    assert found[0] == (1 if with_redis() else 2)


def test_a_right_password_refused_for_its_scope_still_ends_the_run_of_failures(
    member: User,
) -> None:
    for _ in range(settings.MICRO_LOCKOUT_THRESHOLD - 1):
        assert sign_in(member, password="not the password").status_code == 401
    refused = sign_in(member, scope="users:write")
    assert refused.status_code == 403
    subject = lockout.lockout_subject(login=member.username, user_id=member.pk)
    key = f"signin:failures:{lockout.login_digest(subject)}"
    assert counters.counter_get(key) == 0
    assert sign_in(member, password="not the password").status_code == 401
    assert sign_in(member).status_code == 200


def test_a_right_password_that_needs_a_code_still_ends_the_run_of_failures(user: User) -> None:
    TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    for _ in range(settings.MICRO_LOCKOUT_THRESHOLD - 1):
        assert sign_in(user, password="not the password").status_code == 401
    asked = sign_in(user)
    assert asked.status_code == 401 and asked.json()["code"] == "mfa_required"
    subject = lockout.lockout_subject(login=user.username, user_id=user.pk)
    assert counters.counter_get(f"signin:failures:{lockout.login_digest(subject)}") == 0


def test_attempts_refused_by_the_ip_throttle_are_not_counted_for_the_account(
    user: User, settings: Any
) -> None:
    settings.MICRO_LOGIN_FAILURES_PER_IP = 2
    for index in range(2):
        body = {"username": f"guess{index}", "password": "x"}
        assert APIClient(REMOTE_ADDR=IP).post(TOKEN_URL, body, format="json").status_code == 401
    for _ in range(settings.MICRO_LOCKOUT_THRESHOLD + 2):
        assert sign_in(user, password="not the password").status_code == 429
    subject = lockout.lockout_subject(login=user.username, user_id=user.pk)
    assert counters.counter_get(f"signin:failures:{lockout.login_digest(subject)}") == 0
    assert lockout.account_wait(login=subject) == 0


def test_a_sign_in_makes_two_round_trips_to_redis(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One for the throttle checks and the counted attempt, one for the end of the run."""
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the suite uses the in-process cache")
    import redis

    assert sign_in(user).status_code == 200  # the script is loaded once per server
    commands: list[str] = []
    real = redis.Redis.execute_command

    def counted(self: redis.Redis, *args: Any, **options: Any) -> Any:
        commands.append(str(args[0]))
        return real(self, *args, **options)

    monkeypatch.setattr(redis.Redis, "execute_command", counted)
    assert sign_in(user).status_code == 200
    assert commands == ["EVALSHA", "DEL"]


def test_a_sign_in_fails_closed_when_redis_cannot_be_read(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: the suite uses the in-process cache")
    import redis

    def down(self: redis.Redis, *args: Any, **options: Any) -> Any:
        raise redis.ConnectionError("Redis is down")

    with monkeypatch.context() as patched:  # undone before the suite's own cache clean-up
        patched.setattr(redis.Redis, "execute_command", down)
        response = sign_in(user)
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert not AuditEvent.objects.filter(type="login.succeeded").exists()


def test_the_account_statement_is_compiled_once_per_kind_of_login(
    member: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Building and compiling the factor subqueries and the group join costs more than the
    read itself: the statement is compiled once per kind of login (username, email), and
    every later sign-in only runs it."""
    built: list[int] = []
    real = mfa_services.factor_annotations

    def counted() -> Any:
        built.append(1)
        return real()

    monkeypatch.setattr(sign_in_selectors, "factor_annotations", counted)
    reads = sign_in_selectors._SIGN_IN_READS.values()
    for read in reads:
        read._forget()
    try:
        for _ in range(3):
            assert sign_in(member).status_code == 200
        assert sign_in(member, password="wrong").status_code == 401
        UserFactory.create(email="second@example.com")
        for _ in range(2):
            body = {"username": "second@example.com", "password": DEFAULT_PASSWORD}
            response = APIClient(REMOTE_ADDR=IP).post(TOKEN_URL, body, format="json")
            assert response.status_code == 200
    finally:
        for read in reads:
            read._forget()
    # Twice per kind when it is compiled: for the login, then for the probe that checks the
    # login is bound as given (micro_platform/compiled.py); never again.
    assert built == [1, 1, 1, 1]
