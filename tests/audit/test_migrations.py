"""The AuditEvent model moved from authn to audit (audit 0001, authn 0009) over the same table:
events written by the previous release are read through the new model, none is lost, and the
admin permissions on them follow the model."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType

from audit.models import AuditEvent
from tests.migration_helpers import applied_migrations, migrate_to, schema_at

# Unapplying audit takes back every migration after the move (authn 0009, the counter move too).
BEFORE_THE_MOVE: list[tuple[str, str | None]] = [("audit", None)]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def old_schema() -> Iterator[Any]:
    """The historical models as the previous release had them; latest schema afterwards."""
    with schema_at(BEFORE_THE_MOVE) as apps:
        yield apps


def test_the_previous_release_has_audit_events_in_authn(old_schema: Any) -> None:
    applied = applied_migrations()
    assert ("authn", "0008_verbose_names") in applied
    assert ("authn", "0009_audit_event_moved_to_audit") not in applied
    assert old_schema.get_model("authn", "AuditEvent")._meta.db_table == "authn_auditevent"
    with pytest.raises(LookupError):
        old_schema.get_model("audit", "AuditEvent")


def test_events_written_before_the_move_are_read_through_the_audit_model(
    old_schema: Any,
) -> None:
    actor = uuid.uuid4()
    written = [
        old_schema.get_model("authn", "AuditEvent").objects.create(
            type=f"user.{what}",
            actor_id=actor,
            subject_type="user",
            subject_id=f"subject-{what}",
            ip_address="203.0.113.9",
            data={"fields": [what]},
        )
        for what in ("created", "updated", "deactivated")
    ]

    migrate_to(None)

    read = {event.pk: event for event in AuditEvent.objects.all()}
    assert set(read) == {event.pk for event in written}
    for old in written:
        new = read[old.pk]
        assert (new.type, new.actor_id, new.subject_type, new.subject_id) == (
            old.type,
            actor,
            "user",
            old.subject_id,
        )
        assert (new.ip_address, new.data, new.created_at) == (
            "203.0.113.9",
            old.data,
            old.created_at,
        )


def test_admin_permissions_on_audit_events_follow_the_model(old_schema: Any) -> None:
    old_type = ContentType.objects.get(app_label="authn", model="auditevent")
    view = Permission.objects.get(content_type=old_type, codename="view_auditevent")
    auditors = AuthGroup.objects.create(name="auditors")
    auditors.permissions.add(view)

    migrate_to(None)

    new_type = ContentType.objects.get_for_model(AuditEvent)
    assert new_type.pk == old_type.pk
    assert (new_type.app_label, new_type.model) == ("audit", "auditevent")
    assert not ContentType.objects.filter(app_label="authn", model="auditevent").exists()
    held = auditors.permissions.get()
    assert (held.pk, held.content_type_id, held.codename) == (
        view.pk,
        new_type.pk,
        "view_auditevent",
    )
