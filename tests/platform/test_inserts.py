"""Two new rows written by one statement (micro_platform/inserts.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection
from django.db.models.signals import post_save
from django.utils import timezone
from oauth2_provider.models import AccessToken

from audit.models import AuditEvent
from micro_platform.inserts import insert_together, insertable_together
from tests.authn.oauth_helpers import make_client

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one statement only on PostgreSQL"
)


def new_rows(**event: Any) -> tuple[AuditEvent, AccessToken]:
    client = make_client()
    row = AccessToken(
        scope="users:read",
        expires=timezone.now() + timedelta(minutes=5),
        application=client.application,
        token="a token",
    )
    fields = {"type": "token.issued", "subject_id": "x", "data": {"scope": "users:read"}}
    return AuditEvent(**{**fields, **event}), row


@on_postgresql
def test_writes_both_rows_as_save_would_in_one_statement(
    db: Any, django_assert_num_queries: Any
) -> None:
    event, row = new_rows()
    with django_assert_num_queries(1):
        insert_together(event, row, using="default")

    assert row.pk is not None and not row._state.adding and not event._state.adding
    stored = AccessToken.objects.get(pk=row.pk)
    assert (stored.scope, stored.token_checksum) == ("users:read", row.token_checksum)
    assert stored.created is not None and stored.created == row.created  # auto_now_add
    read = AuditEvent.objects.get(pk=event.pk)
    assert (read.type, read.data, read.created_at) == (event.type, event.data, event.created_at)


@on_postgresql
def test_stores_neither_row_when_one_is_refused(transactional_db: Any) -> None:
    """With no transaction around it (autocommit), the one statement is all or nothing."""
    event, row = new_rows(subject_type="x" * 40)  # longer than its column

    with pytest.raises(DatabaseError):
        insert_together(event, row, using="default")

    assert not AccessToken.objects.exists() and not AuditEvent.objects.exists()


def test_a_row_that_needs_values_back_must_come_second(db: Any) -> None:
    event, row = new_rows()
    with pytest.raises(ValueError):
        insert_together(row, event, using="default")


def test_only_on_postgresql_and_only_while_no_save_signal_is_listened_to(db: Any) -> None:
    expected = connection.vendor == "postgresql"
    assert insertable_together(AuditEvent, AccessToken, using="default") is expected

    def receiver(**kwargs: Any) -> None:
        pass

    post_save.connect(receiver, sender=AccessToken)
    try:
        assert not insertable_together(AuditEvent, AccessToken, using="default")
    finally:
        post_save.disconnect(receiver, sender=AccessToken)
