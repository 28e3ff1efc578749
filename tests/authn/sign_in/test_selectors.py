"""The token endpoint's account read (authn/sign_in/selectors.py): compiled once, it reads
what the ORM's queryset reads."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from django.db.models import F, QuerySet
from django.db.models.sql.compiler import SQLCompiler
from django.test import override_settings
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import EMAIL_MAX_LENGTH, User
from accounts.selectors import users_by_login
from authn.mfa.services import factor_annotations
from authn.sign_in.selectors import SignInAccount, sign_in_account_get
from tests.factories import GroupFactory, MembershipFactory, UserFactory


def orm_rows(login: str) -> QuerySet[User]:
    """The account read as a queryset the ORM builds and compiles on every call."""
    users = User.objects.annotate(
        **factor_annotations(),
        sign_in_group_id=F("memberships__group_id"),
        sign_in_group_scopes=F("memberships__group__scopes"),
    ).order_by("pk")
    return users_by_login(login=login, users=users)


def orm_account(login: str) -> SignInAccount | None:
    rows: list[Any] = list(orm_rows(login))  # with its annotations
    if not rows:
        return None
    user = rows[0]
    memberships = [
        (row.sign_in_group_id, list(row.sign_in_group_scopes or []))
        for row in rows
        if row.sign_in_group_id is not None
    ]
    return SignInAccount(user, memberships, (bool(user.has_totp), bool(user.has_passkey)))


def assert_same_account(read: SignInAccount | None, expected: SignInAccount | None) -> None:
    if expected is None:
        assert read is None
        return
    assert read is not None
    for field in User._meta.concrete_fields:
        got, want = getattr(read.user, field.attname), getattr(expected.user, field.attname)
        assert got == want and type(got) is type(want), field.name
    assert (read.user._state.adding, read.user._state.db) == (False, "default")
    assert sorted(read.memberships) == sorted(expected.memberships)
    assert read.factors == expected.factors
    assert all(type(factor) is bool for factor in read.factors)


@pytest.fixture
def accounts(db: Any) -> dict[str, User]:
    """Accounts of 0, 1 and several groups, with and without second factors."""
    loner = UserFactory.create(username="Loner", email="Loner@Example.com")
    single = UserFactory.create(username="single.member", is_active=False)
    MembershipFactory.create(user=single, group=GroupFactory.create(scopes=["users:read"]))
    several = UserFactory.create(username="several_groups")
    for scopes in (["users:read"], [], ["objects:read", "objects:write"]):
        MembershipFactory.create(user=several, group=GroupFactory.create(scopes=scopes))
    TOTPDevice.objects.create(user=single, name="confirmed", confirmed=True)
    TOTPDevice.objects.create(user=several, name="pending", confirmed=False)
    WebAuthnCredential.objects.create(
        user=several, credential_id=b"\x01id", public_key=b"\x02key", confirmed=True
    )
    no_email = UserFactory.create(username="no-email", email="")
    return {"loner": loner, "single": single, "several": several, "no_email": no_email}


LOGINS = [
    "Loner",
    "loner",
    "LONER",
    "loner@example.com",
    "LONER@EXAMPLE.COM",
    "single.member",
    "SINGLE.MEMBER",
    "single.member@example.com",
    "several_groups",
    "Several_Groups@Example.Com",
    "no-email",
    "no-email@example.com",
    "nobody",
    "nobody@example.com",
    "@",
    "",
    "loner\x00",
    "a" * 150,
    "a" * (EMAIL_MAX_LENGTH + 1),
    "a" * (EMAIL_MAX_LENGTH - 12) + "@example.com",
]


@pytest.mark.parametrize("login", LOGINS)
def test_reads_the_account_the_orm_reads(accounts: dict[str, User], login: str) -> None:
    assert_same_account(sign_in_account_get(login=login), orm_account(login))


def test_reads_groups_and_factors_of_each_account(accounts: dict[str, User]) -> None:
    loner = sign_in_account_get(login="LONER@example.com")
    single = sign_in_account_get(login="Single.Member")
    several = sign_in_account_get(login="several_groups@EXAMPLE.com")
    assert loner is not None and single is not None and several is not None
    assert (loner.user, loner.memberships, loner.factors) == (accounts["loner"], [], (False, False))
    assert single.user == accounts["single"] and not single.user.is_active
    assert [scopes for _, scopes in single.memberships] == [["users:read"]]
    assert single.factors == (True, False)
    assert sorted(scopes for _, scopes in several.memberships) == [
        [],
        ["objects:read", "objects:write"],
        ["users:read"],
    ]
    assert several.factors == (False, True)  # its TOTP device is not confirmed
    assert sign_in_account_get(login="no-email@example.com") is None


def test_an_unknown_or_impossible_login_reads_nothing(
    accounts: dict[str, User], django_assert_num_queries: Any
) -> None:
    for login in ("nobody", "nobody@example.com", "@"):
        assert sign_in_account_get(login=login) is None
    with django_assert_num_queries(0):  # no account can have such a name
        assert sign_in_account_get(login="a" * (EMAIL_MAX_LENGTH + 1)) is None
        assert sign_in_account_get(login="loner\x00") is None


def test_a_sign_in_compiles_no_sql(
    accounts: dict[str, User], django_assert_num_queries: Any
) -> None:
    sign_in_account_get(login="warm")
    sign_in_account_get(login="warm@example.com")
    with mock.patch.object(
        SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
    ) as compiled:
        for login in ("Loner", "several_groups@example.com", "nobody"):
            with django_assert_num_queries(1):
                sign_in_account_get(login=login)
    assert compiled.call_count == 0


def test_a_settings_change_compiles_the_statement_again(accounts: dict[str, User]) -> None:
    """A test that swaps the database (override_settings) must not run the statement
    compiled for the one before."""
    sign_in_account_get(login="warm")
    with (
        override_settings(USE_TZ=True),
        mock.patch.object(
            SQLCompiler, "as_sql", autospec=True, side_effect=SQLCompiler.as_sql
        ) as compiled,
    ):
        account = sign_in_account_get(login="loner")
    assert compiled.call_count > 0
    assert account is not None and account.user == accounts["loner"]
