"""`grant_access`: audited upsert by the operator; bad arguments are errors."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from audit.models import AuditEvent
from permissions.models import Grant

pytestmark = pytest.mark.django_db(databases="__all__")


def test_grant_access_creates_then_updates_a_user_grant(user: User) -> None:
    out = StringIO()
    call_command("grant_access", "doc", "d-1", "--user", str(user.pk), "--read", stdout=out)
    assert out.getvalue().startswith("granted ")
    call_command("grant_access", "doc", "d-1", "--user", str(user.pk), "--write", stdout=out)
    row = Grant.objects.get(object_type="doc", object_id="d-1")
    assert (row.subject_type, row.read, row.write, row.admin) == ("user", False, True, False)
    events = AuditEvent.objects.filter(type="access.granted", subject_id="d-1")
    assert events.count() == 2
    assert {event.actor_id for event in events} == {None}


def test_grant_access_to_a_group() -> None:
    group_id = uuid.uuid4()
    call_command(
        "grant_access",
        "doc",
        "d-2",
        "--group",
        str(group_id),
        "--read",
        "--admin",
        stdout=StringIO(),
    )
    row = Grant.objects.get(object_id="d-2")
    assert (row.subject_type, row.subject_id, row.admin) == ("group", group_id, True)


@pytest.mark.parametrize(
    "args",
    [
        ["doc", "d", "--user", "not-a-uuid", "--read"],
        ["doc", "d", "--user", str(uuid.uuid4())],
        ["doc", "x" * 256, "--user", str(uuid.uuid4()), "--read"],
    ],
)
def test_grant_access_rejects_bad_arguments(args: list[str]) -> None:
    with pytest.raises(CommandError):
        call_command("grant_access", *args, stdout=StringIO())
    assert not Grant.objects.exists()


def test_grant_access_needs_exactly_one_subject() -> None:
    with pytest.raises(CommandError):
        call_command("grant_access", "doc", "d", "--read", stdout=StringIO())
