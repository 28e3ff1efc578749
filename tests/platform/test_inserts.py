"""New rows written by one statement (micro_platform/inserts.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models.signals import post_save
from django.utils import timezone
from oauth2_provider.models import AccessToken

from audit.models import AuditEvent
from micro_platform.inserts import NewRows, insert_together, insertable_together
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


@on_postgresql
def test_writes_any_number_of_rows_in_one_statement(
    db: Any, django_assert_num_queries: Any
) -> None:
    event, row = new_rows()
    second = AuditEvent(type="token.revoked", subject_id="y")
    with django_assert_num_queries(1):
        insert_together(event, second, row, using="default")

    assert row.pk is not None
    assert set(AuditEvent.objects.values_list("pk", flat=True)) == {event.pk, second.pk}


def event_columns(event: AuditEvent) -> dict[str, Any]:
    """Every column of the stored event but its key and its creation time."""
    stored: dict[str, Any] = dict(AuditEvent.objects.filter(pk=event.pk).values().get())
    assert stored.pop("created_at") == event.created_at  # what the instance was given
    del stored["id"]
    return stored


@pytest.mark.parametrize("together", [True, False], ids=["together", "orm"])
def test_new_rows_store_what_save_and_bulk_create_store(db: Any, together: bool) -> None:
    def receiver(**kwargs: Any) -> None:
        pass

    if not together:  # a receiver of the save signals: the ORM's saves, on any database
        post_save.connect(receiver, sender=AuditEvent)
    try:
        one, many = AuditEvent(type="login.failed"), [AuditEvent(type="a"), AuditEvent(type="b")]
        with NewRows(AuditEvent) as rows:
            assert rows.together is (together and connection.vendor == "postgresql")
            rows.add(one)
            rows.add_many(many)
            # pre_save has run: `auto_now_add` is set, in the order the rows were added
            assert one.created_at is not None and one.created_at <= many[0].created_at
    finally:
        post_save.disconnect(receiver, sender=AuditEvent)

    saved, bulk = AuditEvent(type="login.failed"), [AuditEvent(type="a"), AuditEvent(type="b")]
    saved.save(force_insert=True)
    AuditEvent.objects.bulk_create(bulk)
    assert event_columns(one) == event_columns(saved)
    for new, old in zip(many, bulk, strict=True):
        assert not new._state.adding and event_columns(new) == event_columns(old)


@on_postgresql
def test_new_rows_are_stored_with_one_statement_when_written(
    db: Any, django_assert_num_queries: Any
) -> None:
    rows = NewRows(AuditEvent)
    with django_assert_num_queries(0):
        rows.add(AuditEvent(type="a"))
        rows.add_many([AuditEvent(type="b"), AuditEvent(type="c")])
    with django_assert_num_queries(1):
        rows.write()
    assert sorted(AuditEvent.objects.values_list("type", flat=True)) == ["a", "b", "c"]


@on_postgresql
def test_new_rows_are_not_stored_when_the_block_raises(
    db: Any, django_assert_num_queries: Any
) -> None:
    with django_assert_num_queries(0), pytest.raises(RuntimeError), NewRows(AuditEvent) as rows:
        rows.add(AuditEvent(type="a"))
        raise RuntimeError("the service failed after building its rows")
    rows.write()  # they were dropped, not kept for later
    assert not AuditEvent.objects.exists()


@on_postgresql
def test_new_rows_store_none_when_one_is_refused(transactional_db: Any) -> None:
    """Written in autocommit, the one statement is all or nothing."""
    with pytest.raises(DatabaseError), NewRows(AuditEvent) as rows:
        rows.add(AuditEvent(type="a"))
        rows.add(AuditEvent(type="b", subject_type="x" * 40))  # longer than its column
    assert not AuditEvent.objects.exists()


def test_new_rows_in_a_transaction_that_fails_leave_nothing(transactional_db: Any) -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        with NewRows(AuditEvent) as rows:
            rows.add(AuditEvent(type="a"))
        raise RuntimeError("the caller failed after the rows were written")
    assert not AuditEvent.objects.exists()


def test_new_rows_are_saved_as_they_are_added_when_a_receiver_listens(db: Any) -> None:
    seen: list[Any] = []

    def receiver(instance: AuditEvent, **kwargs: Any) -> None:
        seen.append(instance)

    post_save.connect(receiver, sender=AuditEvent)
    try:
        with NewRows(AuditEvent) as rows:
            assert not rows.together
            event = AuditEvent(type="a")
            rows.add(event)
            assert seen == [event] and AuditEvent.objects.filter(pk=event.pk).exists()
    finally:
        post_save.disconnect(receiver, sender=AuditEvent)


def test_new_rows_refuse_other_models_and_rows_that_need_values_back(db: Any) -> None:
    event, row = new_rows()
    with pytest.raises(ValueError):
        NewRows(AuditEvent).add(row)  # not one of the models named
    with pytest.raises(ValueError):
        NewRows(AuditEvent, AccessToken).add(row)  # its key comes from the database
    with pytest.raises(ValueError):
        NewRows(AuditEvent).add_many([event, row])  # one model per insert


def test_a_failed_insert_dooms_the_enclosing_transaction(db: Any) -> None:
    # As the ORM's saves: a caller that catches the error cannot commit half its work.
    event, _ = new_rows()
    event.save()
    duplicate, _ = new_rows()
    duplicate.pk = event.pk
    with transaction.atomic():
        with pytest.raises(DatabaseError):
            insert_together(duplicate, using="default")
        assert transaction.get_connection().needs_rollback
    # The block was rolled back (to its savepoint) instead of committed.
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [event.pk]


def test_inserting_nothing_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="at least one"):
        insert_together(using="default")
