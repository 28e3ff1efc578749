"""The sign-in's confirm (authn/sign_in/services.py::sign_in_confirm): one update compiled
once, which stamps `last_login` only on the unchanged, active user it checked."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.db.models.sql.compiler import SQLUpdateCompiler
from django.test import override_settings
from django.utils import timezone

from accounts.models import User, new_security_stamp
from authn.sign_in.services import InvalidCredentials, sign_in_confirm

# Microseconds and an hour that is not UTC's: the value must reach the column as the ORM
# writes it (aware, adapted by the connection), not cut or shifted.
NOW = datetime.datetime(2026, 3, 1, 12, 30, 45, 123456, tzinfo=datetime.UTC)


def compile_counted() -> Any:
    return mock.patch.object(
        SQLUpdateCompiler, "as_sql", autospec=True, side_effect=SQLUpdateCompiler.as_sql
    )


def confirm_at(user: User, now: datetime.datetime) -> None:
    with mock.patch.object(timezone, "now", return_value=now), transaction.atomic():
        sign_in_confirm(user=user)


def test_stamps_last_login_as_the_orm_writes_it(
    user: User, other_user: User, django_assert_num_queries: Any
) -> None:
    sign_in_confirm(user=other_user)  # compiled here
    elsewhere = NOW.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
    User.objects.filter(pk=other_user.pk).update(last_login=elsewhere)
    with mock.patch.object(timezone, "now", return_value=elsewhere), django_assert_num_queries(1):
        sign_in_confirm(user=user)
    stamped, by_the_orm = (User.objects.get(pk=pk).last_login for pk in (user.pk, other_user.pk))
    assert stamped == by_the_orm == NOW
    assert stamped is not None and timezone.is_aware(stamped)


def change_password(user: User) -> None:
    User.objects.filter(pk=user.pk).update(password=make_password("another passphrase"))


def change_stamp(user: User) -> None:
    User.objects.filter(pk=user.pk).update(security_stamp=new_security_stamp())


def deactivate(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def delete(user: User) -> None:
    User.objects.filter(pk=user.pk).delete()


@pytest.mark.parametrize("change", [change_password, change_stamp, deactivate, delete])
def test_refuses_a_user_changed_since_it_was_read(
    user: User, other_user: User, change: Callable[[User], None]
) -> None:
    read = User.objects.get(pk=user.pk)
    sign_in_confirm(user=other_user)  # the statement is compiled: its parameters are not
    change(user)
    with pytest.raises(InvalidCredentials):
        confirm_at(read, NOW)
    stamped = User.objects.values_list("last_login", flat=True)
    assert all(last_login != NOW for last_login in stamped)


def test_confirms_an_unchanged_user_again(user: User) -> None:
    confirm_at(user, NOW)
    later = NOW + datetime.timedelta(minutes=5)
    confirm_at(user, later)
    assert User.objects.get(pk=user.pk).last_login == later


def test_a_confirm_compiles_no_sql(user: User, other_user: User) -> None:
    sign_in_confirm(user=other_user)
    with compile_counted() as compiled:
        confirm_at(user, NOW)
    assert compiled.call_count == 0


def test_a_settings_change_compiles_the_update_again(user: User) -> None:
    sign_in_confirm(user=user)
    with override_settings(USE_TZ=True), compile_counted() as compiled:
        confirm_at(user, NOW)
    assert compiled.call_count == 1
    assert User.objects.get(pk=user.pk).last_login == NOW
