"""Reads compiled once per database (micro_platform/compiled.py)."""

from __future__ import annotations

import uuid
from typing import Any
from unittest import mock

import pytest
from django.db.models import Exists, F, OuterRef
from django.db.models.sql.compiler import SQLCompiler, SQLUpdateCompiler
from django.test import override_settings
from oauth2_provider.models import Application

from accounts import selectors
from accounts.models import Membership, User
from micro_platform.compiled import (
    InstancesByValue,
    RowByPk,
    RowsByParams,
    RowsByPks,
    UpdateByParams,
)
from tests.authn.oauth_helpers import make_client
from tests.factories import GroupFactory, MembershipFactory, ServiceAccountFactory, UserFactory


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


def clients_with_owner_and_groups(client_id: str) -> Any:
    return (
        Application.objects.select_related("user")
        .filter(client_id=client_id)
        .annotate(group_name=F("user__memberships__group__name"))
        .order_by("user__memberships__group__name")
    )


def test_instances_by_value_reads_what_the_orm_reads(db: Any) -> None:
    owner = UserFactory.create()
    for name in ("a", "b"):
        MembershipFactory.create(user=owner, group=GroupFactory.create(name=name))
    client = make_client(owner=owner)
    reader = InstancesByValue(Application, clients_with_owner_and_groups)

    read, expected = (
        reader.get(client.client_id),
        list(clients_with_owner_and_groups(client.client_id)),
    )
    assert [row.group_name for row in read] == [row.group_name for row in expected] == ["a", "b"]
    for got, want in zip(read, expected, strict=True):
        for field in Application._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(want, field.attname), field.name
        assert got.user == owner and got.user.username == owner.username
        assert (got._state.adding, got._state.db) == (False, "default")
    assert reader.get("no such client") == []


def test_instances_by_value_compiles_once(db: Any, django_assert_num_queries: Any) -> None:
    first, second = make_client(owner=UserFactory.create()), make_client(owner=None)
    reader = InstancesByValue(Application, clients_with_owner_and_groups)
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        reader.get(first.client_id)
        with django_assert_num_queries(1):
            (read,) = reader.get(second.client_id)
    assert compiled.call_count == 1
    assert read.pk == second.application.pk and read.user is None


def test_instances_by_value_refuses_a_statement_with_other_parameters(db: Any) -> None:
    reader = InstancesByValue(
        Application, lambda value: Application.objects.filter(client_id=value, name="x")
    )
    with pytest.raises(RuntimeError):
        reader.get("a client id")


def usernames_query(prefix: str, kinds: tuple[str, ...]) -> Any:
    return User.objects.filter(username__startswith=prefix, kind__in=kinds).values_list(
        "username", "kind"
    )


def usernames_params(connection: Any, prefix: str, kinds: tuple[str, ...]) -> list[Any]:
    return [*kinds, f"{prefix}%"]  # the statement's order: kind, then username


def orm_usernames(prefix: str, kinds: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return sorted(usernames_query(prefix, kinds))


def test_rows_by_params_reads_the_rows_the_orm_reads_and_compiles_once_per_shape(
    db: Any, django_assert_num_queries: Any
) -> None:
    UserFactory.create(username="ann")
    ServiceAccountFactory.create(username="anna-svc")
    UserFactory.create(username="bob")
    reader = RowsByParams(
        User, build=usernames_query, shape=lambda prefix, kinds: len(kinds), params=usernames_params
    )
    both = ("user", "service")
    expected = [
        orm_usernames("an", ("user",)),
        orm_usernames("b", ("service",)),
        orm_usernames("an", both),
    ]
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        first = reader.get("an", ("user",))
        with django_assert_num_queries(1):
            second = reader.get("b", ("service",))  # the statement of the first shape
        third = reader.get("an", both)
    assert compiled.call_count == 2
    assert [sorted(first), sorted(second), sorted(third)] == expected
    assert expected[0] == [("ann", "user")] and len(expected[2]) == 2


def test_rows_by_params_refuses_parameters_that_are_not_the_statements(db: Any) -> None:
    reader = RowsByParams(
        User,
        build=usernames_query,
        shape=lambda prefix, kinds: len(kinds),
        params=lambda connection, prefix, kinds: [f"{prefix}%", *kinds],  # the wrong order
    )
    with pytest.raises(RuntimeError):
        reader.get("an", ("user",))


def test_rows_by_params_keeps_at_most_its_bound_of_statements(db: Any) -> None:
    reader = RowsByParams(
        User,
        build=usernames_query,
        shape=lambda prefix, kinds: len(kinds),
        params=usernames_params,
        max_shapes=1,
    )
    reader.get("an", ("user",))
    assert reader.get("an", ("user", "service")) == []
    assert set(reader._statements) == {("default", 1)}


def named_with_group_flag(username: str) -> Any:
    """A value among constants: the `Exists`' selected 1 and the excluded ''."""
    return (
        User.objects.annotate(in_a_group=Exists(Membership.objects.filter(user=OuterRef("pk"))))
        .exclude(email="")
        .filter(username=username)
    )


def test_instances_by_value_with_constants_reads_what_the_orm_reads(
    db: Any, django_assert_num_queries: Any
) -> None:
    member = UserFactory.create(username="member")
    MembershipFactory.create(user=member)
    UserFactory.create(username="loner")
    UserFactory.create(username="no-email", email="")
    names = ("member", "loner", "no-email", "nobody")
    expected = {name: flagged(named_with_group_flag(name)) for name in names}
    reader = InstancesByValue(User, named_with_group_flag, constants=True, probe=PROBE)
    reader.get("someone")
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        for name in names:
            with django_assert_num_queries(1):
                assert flagged(reader.get(name)) == expected[name], name
    assert compiled.call_count == 0
    assert expected["member"] == [(member.pk, True)] and expected["loner"][0][1] is False
    assert expected["no-email"] == expected["nobody"] == []


def flagged(users: Any) -> list[tuple[Any, bool]]:
    return [(user.pk, user.in_a_group) for user in users]


def test_instances_by_value_refuses_constants_unless_told(db: Any) -> None:
    with pytest.raises(RuntimeError):
        InstancesByValue(User, named_with_group_flag).get("member")


@pytest.mark.parametrize(
    "build",
    [
        lambda value: User.objects.filter(username=value, display_name=value),  # twice
        lambda value: User.objects.filter(username="fixed"),  # never
    ],
)
def test_instances_by_value_with_constants_refuses_a_value_not_in_one_place(
    db: Any, build: Any
) -> None:
    with pytest.raises(RuntimeError):
        InstancesByValue(User, build, constants=True, probe=PROBE).get("member")


PROBE = "Probe%_\\ name"


@pytest.mark.parametrize(
    "build",
    [
        # The parameter is derived from the value (as a lookup escapes or folds a pattern):
        # a plain first value comes out unchanged, a value with capitals would not.
        lambda value: User.objects.exclude(email="").filter(username=value.lower()),
        # A second parameter derived from the value.
        lambda value: User.objects.exclude(email="").filter(
            username=value, display_name=value.upper()
        ),
    ],
)
def test_instances_by_value_refuses_a_parameter_derived_from_the_value(db: Any, build: Any) -> None:
    reader = InstancesByValue(User, build, constants=True, probe=PROBE)
    with pytest.raises(RuntimeError):
        reader.get("member")


def test_instances_by_value_with_constants_needs_a_probe() -> None:
    with pytest.raises(TypeError):
        InstancesByValue(User, named_with_group_flag, constants=True)


def still_named(user: User, name: str) -> Any:
    return User.objects.filter(pk=user.pk, username=user.username)


def still_named_params(connection: Any, user: User, name: str) -> list[Any]:
    pk = User._meta.pk.get_db_prep_value(user.pk, connection)
    return [name, pk, user.username]  # the value set, then the filter's keywords by name


def renamer(**options: Any) -> UpdateByParams[User]:
    return UpdateByParams(
        User,
        build=still_named,
        values=lambda user, name: {"display_name": name},
        **{"params": still_named_params, **options},
    )


def test_update_by_params_updates_what_the_orm_updates_and_compiles_once(
    user: User, other_user: User, django_assert_num_queries: Any
) -> None:
    reader = renamer()
    with mock.patch.object(
        SQLUpdateCompiler, "as_sql", autospec=True, side_effect=SQLUpdateCompiler.as_sql
    ) as compiled:
        assert reader.run(user, "First") == 1
        with django_assert_num_queries(1):
            assert reader.run(other_user, "Second") == 1
    assert compiled.call_count == 1
    stale = User(pk=user.pk, username="renamed since")
    assert reader.run(stale, "Third") == 0
    names = dict(User.objects.values_list("pk", "display_name"))
    assert (names[user.pk], names[other_user.pk]) == ("First", "Second")


def test_update_by_params_refuses_parameters_that_are_not_the_statements(user: User) -> None:
    reader = renamer(params=lambda connection, user, name: [name, user.username, user.pk])
    with pytest.raises(RuntimeError):
        reader.run(user, "First")
    assert User.objects.get(pk=user.pk).display_name != "First"


def test_update_by_params_compiles_again_after_a_settings_change(user: User) -> None:
    reader = renamer()
    reader.run(user, "First")
    with override_settings(USE_TZ=True):
        assert not reader._statements
        assert reader.run(user, "Second") == 1
