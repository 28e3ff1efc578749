"""A one-row read by primary key compiled once per database (micro_platform/compiled.py)."""

from __future__ import annotations

import uuid
from typing import Any
from unittest import mock

from django.db.models.sql.compiler import SQLCompiler
from django.test import override_settings

from accounts import selectors
from accounts.models import User
from micro_platform.compiled import RowByPk, RowsByPks
from tests.factories import UserFactory


def test_reads_the_row_the_orm_reads(user: User) -> None:
    user.display_name = "Ada \u00e9"
    user.last_login = user.created_at
    user.save()
    reader = RowByPk(User, sample_pk=uuid.UUID(int=0))
    read, expected = reader.get(user.pk), User.objects.filter(pk=user.pk).first()
    assert read is not None and expected is not None
    for field in User._meta.concrete_fields:
        assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
    assert (read._state.adding, read._state.db) == (False, "default")


def test_an_unknown_key_reads_none(db: Any) -> None:
    assert RowByPk(User, sample_pk=uuid.UUID(int=0)).get(uuid.uuid4()) is None


def test_compiles_once_and_runs_one_query(user: User, django_assert_num_queries: Any) -> None:
    reader = RowByPk(User, sample_pk=uuid.UUID(int=0))
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        reader.get(user.pk)
        with django_assert_num_queries(1):
            assert reader.get(user.pk) == user
    assert compiled.call_count == 1


def test_a_settings_change_compiles_again(user: User) -> None:
    reader = RowByPk(User, sample_pk=uuid.UUID(int=0))
    reader.get(user.pk)
    with override_settings(USE_TZ=True):
        assert not reader._statements
        assert reader.get(user.pk) == user


def test_the_user_read_compiles_no_sql_per_request(user: User) -> None:
    selectors.user_get(user_id=str(user.pk))
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        assert selectors.user_get(user_id=str(user.pk)) == user
    assert compiled.call_count == 0


PUBLIC = selectors.PUBLIC_FIELDS
ORDER = ("created_at", "id")


def orm_rows(pks: set[uuid.UUID]) -> list[dict[str, Any]]:
    return list(User.objects.filter(pk__in=pks).order_by(*ORDER).values(*PUBLIC))


def test_rows_by_pks_reads_the_rows_the_orm_reads(db: Any) -> None:
    users = UserFactory.create_batch(4, display_name="Zoë \u2028")
    reader = RowsByPks(User, fields=PUBLIC, ordering=ORDER)
    for keys in (
        {users[0].pk},
        {user.pk for user in users},
        {users[1].pk, users[3].pk, uuid.uuid4()},  # an unknown key is no row
        {uuid.uuid4(), uuid.uuid4()},
    ):
        assert reader.get(keys) == orm_rows(keys)
    assert reader.get(set()) == []


def test_rows_by_pks_compiles_once_per_count(db: Any, django_assert_num_queries: Any) -> None:
    users = UserFactory.create_batch(4)
    reader = RowsByPks(User, fields=PUBLIC, ordering=ORDER)
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        reader.get({users[0].pk, users[1].pk})
        with django_assert_num_queries(1):
            # Other keys of the same count: the statement compiled for the first ones.
            rows = reader.get({users[2].pk, users[3].pk})
        reader.get({users[0].pk, users[1].pk, users[2].pk})
    assert compiled.call_count == 2
    assert rows == orm_rows({users[2].pk, users[3].pk})


def test_rows_by_pks_compiles_again_after_a_settings_change(user: User) -> None:
    reader = RowsByPks(User, fields=PUBLIC, ordering=ORDER)
    reader.get({user.pk})
    with override_settings(USE_TZ=True):
        assert not reader._statements
        assert reader.get({user.pk}) == orm_rows({user.pk})


def test_the_batch_lookup_compiles_no_sql_per_request(db: Any) -> None:
    ids = [str(user.pk) for user in UserFactory.create_batch(3)]
    selectors.users_public_by_ids(ids=ids)
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        rows = selectors.users_public_by_ids(ids=[*reversed(ids), ids[0]])
    assert compiled.call_count == 0
    assert rows == orm_rows({uuid.UUID(value) for value in ids})


def test_rows_by_pks_keeps_no_statement_for_more_keys_than_its_bound(db: Any) -> None:
    users = UserFactory.create_batch(3)
    keys = {user.pk for user in users}
    reader = RowsByPks(User, fields=PUBLIC, ordering=ORDER, max_keys=2)

    assert reader.get(keys) == orm_rows(keys)
    assert reader.get({users[0].pk}) == orm_rows({users[0].pk})
    assert set(reader._statements) == {("default", 1)}


def test_rows_by_pks_reads_a_repeated_key_once(db: Any) -> None:
    users = UserFactory.create_batch(2)
    reader = RowsByPks(User, fields=PUBLIC, ordering=ORDER)
    keys = [users[0].pk, users[1].pk, users[0].pk]

    assert reader.get(keys) == orm_rows(set(keys))
    assert reader.get(iter(keys)) == orm_rows(set(keys))
