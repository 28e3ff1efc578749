"""accounts 0002 (User.signed_up): the column has a database default, so an instance of the
previous release can still insert users during a rolling deploy, and accounts that signed up
before it existed are marked."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from accounts.models import User
from audit.models import AuditEvent

BEFORE = ("accounts", "0001_initial")
AFTER = ("accounts", "0002_user_signed_up")

pytestmark = pytest.mark.django_db(transaction=True)


def migrate(target: tuple[str, str] | None) -> Any:
    """Migrates the test database to `target` (every app's latest when None); the apps then."""
    executor = MigrationExecutor(connection)
    targets = [target] if target else executor.loader.graph.leaf_nodes()
    executor.migrate(targets)
    executor.loader.build_graph()
    return executor.loader.project_state(targets).apps


@pytest.fixture
def before_0002() -> Iterator[Any]:
    """The historical models of accounts 0001; the schema is back at the latest afterwards."""
    apps = migrate(BEFORE)
    try:
        yield apps
    finally:
        migrate(None)


def old_user(apps: Any, username: str, *, kind: str = "user") -> Any:
    """A user as the previous release writes it: without the signed_up column."""
    return apps.get_model("accounts", "User").objects.create(
        username=username, password="!", kind=kind
    )


def created(user: Any, *, actor: uuid.UUID | None) -> None:
    AuditEvent.objects.create(
        type="user.created",
        actor_id=actor,
        subject_type="user",
        subject_id=str(user.pk),
        data={"kind": user.kind, "username": user.username},
    )


def test_accounts_that_signed_up_before_0002_are_marked(before_0002: Any) -> None:
    signed_up = old_user(before_0002, "self")
    created(signed_up, actor=None)
    made_by_admin = old_user(before_0002, "by-admin")
    created(made_by_admin, actor=uuid.uuid4())
    service = old_user(before_0002, "svc", kind="service")  # createserviceaccount
    created(service, actor=None)
    old_user(before_0002, "ensured")  # ensure_admin writes no event
    AuditEvent.objects.create(type="user.created", subject_type="user", subject_id="not-a-uuid")

    migrate(AFTER)

    marked = dict(User.objects.values_list("username", "signed_up"))
    assert marked == {"self": True, "by-admin": False, "svc": False, "ensured": False}


def test_the_previous_release_still_inserts_users_after_0002(before_0002: Any) -> None:
    old_model = before_0002.get_model("accounts", "User")

    migrate(AFTER)
    # The previous release's model knows nothing of signed_up: the database default fills it.
    old_model.objects.create(username="from-an-old-instance", password="!", kind="user")

    assert User.objects.get(username="from-an-old-instance").signed_up is False


def test_0002_reverses_without_losing_accounts(before_0002: Any) -> None:
    migrate(AFTER)
    User.objects.create(username="kept", password="!", signed_up=True)

    migrate(BEFORE)

    assert before_0002.get_model("accounts", "User").objects.filter(username="kept").exists()
