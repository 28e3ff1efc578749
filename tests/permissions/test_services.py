"""Grant services: authorization, audit in the right transaction, one database or two."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, router

from accounts.models import User
from audit.models import AuditEvent
from objects.models import Object
from permissions import services
from permissions.models import Grant
from permissions.selectors import access_check, filter_granted
from tests.permissions.helpers import grant, make_object, principal

pytestmark = pytest.mark.django_db(databases="__all__")


def grant_kwargs(subject: User, object_id: str = "o1") -> dict[str, Any]:
    return {
        "object_type": "doc",
        "object_id": object_id,
        "subject_type": "user",
        "subject_id": subject.pk,
        "read": True,
        "write": False,
        "admin": False,
    }


def test_failed_audit_write_leaves_no_grant(
    monkeypatch: pytest.MonkeyPatch, admin_user: User, user: User
) -> None:
    """Whether grants share the default database or not: no grant change without its event."""

    def broken(**_: Any) -> None:
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_record", broken)
    with pytest.raises(RuntimeError):
        services.access_grant(actor=principal(admin_user), **grant_kwargs(user))
    assert not Grant.objects.exists()


def test_failed_revoke_audit_keeps_the_grant(
    monkeypatch: pytest.MonkeyPatch, admin_user: User, user: User
) -> None:
    row = grant("o1", user, read=True, object_type="doc")
    monkeypatch.setattr(services, "audit_record", lambda **_: (_ for _ in ()).throw(RuntimeError()))
    with pytest.raises(RuntimeError):
        services.access_revoke(actor=principal(admin_user), grant=row)
    assert Grant.objects.filter(pk=row.pk).exists()


def test_event_is_written_before_the_grant_commits(
    monkeypatch: pytest.MonkeyPatch, admin_user: User, user: User
) -> None:
    """The documented order: when the grant write fails after the event, only the event may
    remain (split databases) or neither (one database); never the grant alone."""
    original = services._audit

    def audit_then_fail(**kwargs: Any) -> None:
        original(**kwargs)
        raise RuntimeError("grants database fails after the event")

    monkeypatch.setattr(services, "_audit", audit_then_fail)
    with pytest.raises(RuntimeError):
        services.access_grant(actor=principal(admin_user), **grant_kwargs(user))
    assert not Grant.objects.exists()
    events = AuditEvent.objects.filter(type="access.granted").count()
    split = services.grants_db() != DEFAULT_DB_ALIAS
    assert events == (1 if split else 0)


def test_grants_live_in_the_database_the_router_names(user: User) -> None:
    grant("o1", user, read=True)
    alias = router.db_for_write(Grant) or DEFAULT_DB_ALIAS
    assert Grant.objects.using(alias).count() == 1
    assert router.db_for_write(AuditEvent) in (None, DEFAULT_DB_ALIAS)


def test_non_admin_actor_is_refused(user: User, other_user: User) -> None:
    with pytest.raises(services.AccessDenied):
        services.access_grant(actor=principal(other_user), **grant_kwargs(other_user))
    assert not Grant.objects.exists()


def test_check_ignores_grants_of_other_subjects_and_types(user: User, other_user: User) -> None:
    obj = make_object(user)
    assert access_check(
        user_id=user.pk, group_ids=(), object_type="object", object_id=obj.pk, permission="admin"
    )
    for user_id, object_type in ((other_user.pk, "object"), (user.pk, "other-type")):
        assert not access_check(
            user_id=user_id,
            group_ids=(uuid.uuid4(),),
            object_type=object_type,
            object_id=obj.pk,
            permission="read",
        )


def test_a_user_id_does_not_match_a_group_grant_with_the_same_uuid(user: User) -> None:
    grant("o1", user.pk, subject_type="group", read=True)
    assert not access_check(
        user_id=user.pk, group_ids=(), object_type="object", object_id="o1", permission="read"
    )


def test_subject_types_stay_apart_for_a_principal_with_groups(user: User, other_user: User) -> None:
    """With groups the match is `subject_id IN (user, groups…)` minus the crossed types: a
    group grant naming the user's id and a user grant naming a group's id apply to nobody,
    in the check and in the list filter alike."""
    group_id = uuid.uuid4()
    crossed_group = make_object(other_user, name="group grant with the user's id")
    crossed_user = make_object(other_user, name="user grant with a group's id")
    by_group = make_object(other_user, name="group grant")
    direct = make_object(other_user, name="user grant")
    grant(crossed_group, user.pk, subject_type="group", read=True)
    grant(crossed_user, group_id, subject_type="user", read=True)
    grant(by_group, group_id, subject_type="group", read=True)
    grant(direct, user, read=True)
    expected = {by_group.pk, direct.pk}
    for obj in (crossed_group, crossed_user, by_group, direct):
        allowed = access_check(
            user_id=user.pk,
            group_ids=(group_id,),
            object_type="object",
            object_id=obj.pk,
            permission="read",
        )
        assert allowed is (obj.pk in expected), obj.name
    member = replace(principal(user), group_ids=(group_id,))
    listed = filter_granted(Object.objects.all(), principal=member, object_type="object")
    assert set(listed.values_list("pk", flat=True)) == expected


def test_unknown_permission_name_is_refused() -> None:
    with pytest.raises(ValueError):
        access_check(
            user_id=uuid.uuid4(),
            group_ids=(),
            object_type="object",
            object_id="o",
            permission="subject_id",  # type: ignore[arg-type]
        )
