"""The Counter model moved from authn to the platform (micro_platform 0001, authn 0010) over
the same table: counts written by the previous release are read and incremented through the
new model, with the audit events written beside them, and admin permissions follow."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import Group as AuthGroup
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone

from audit.models import AuditEvent
from micro_platform.counters import DatabaseCounters, counters_cleanup
from micro_platform.models import Counter
from tests.migration_helpers import applied_migrations, migrate_to, schema_at

# The schema of the release before either model moved: authn 0008 and nothing after it.
BEFORE_THE_MOVES: list[tuple[str, str | None]] = [("audit", None), ("micro_platform", None)]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def old_schema() -> Iterator[Any]:
    """The historical models as the previous release had them; latest schema afterwards."""
    with schema_at(BEFORE_THE_MOVES) as apps:
        yield apps


def test_the_previous_release_has_counters_in_authn(old_schema: Any) -> None:
    applied = applied_migrations()
    assert ("authn", "0008_verbose_names") in applied
    assert not {app for app, _ in applied} & {"audit", "micro_platform"}
    assert old_schema.get_model("authn", "Counter")._meta.db_table == "authn_counter"
    with pytest.raises(LookupError):
        old_schema.get_model("micro_platform", "Counter")


def test_counts_and_events_written_before_the_moves_are_read_through_the_new_models(
    old_schema: Any,
) -> None:
    now = timezone.now()
    old_counter = old_schema.get_model("authn", "Counter").objects
    old_counter.create(key="signin:failures:live", value=4, expires_at=now + timedelta(hours=1))
    old_counter.create(key="signin:failures:gone", value=9, expires_at=now - timedelta(hours=1))
    event = old_schema.get_model("authn", "AuditEvent").objects.create(
        type="login.failed", subject_type="user", subject_id="someone", data={"method": "password"}
    )

    migrate_to(None)

    assert dict(Counter.objects.values_list("key", "value")) == {
        "signin:failures:live": 4,
        "signin:failures:gone": 9,
    }
    store = DatabaseCounters()
    assert store.get("signin:failures:live") == 4
    assert store.incr("signin:failures:live", 60) == 5
    assert store.get("signin:failures:gone") == 0
    assert counters_cleanup() == 1
    moved = AuditEvent.objects.get()
    assert (moved.pk, moved.type, moved.data) == (event.pk, "login.failed", {"method": "password"})


def test_admin_permissions_on_counters_follow_the_model(old_schema: Any) -> None:
    old_type = ContentType.objects.get(app_label="authn", model="counter")
    view = Permission.objects.get(content_type=old_type, codename="view_counter")
    operators = AuthGroup.objects.create(name="operators")
    operators.permissions.add(view)

    migrate_to(None)

    new_type = ContentType.objects.get_for_model(Counter)
    assert new_type.pk == old_type.pk
    assert (new_type.app_label, new_type.model) == ("micro_platform", "counter")
    assert not ContentType.objects.filter(app_label="authn", model="counter").exists()
    held = operators.permissions.get()
    assert (held.pk, held.codename) == (view.pk, "view_counter")
    assert held.content_type_id == new_type.pk
