"""A sign-in racing a password reset or a deactivation: the password was right when checked,
but the change committed before the sign-in's token or session. The sign-in must then be
refused, or the change's revocation (recorded before the sign-in issued anything) would not
reach what it issued: a reset meant to lock out whoever knew the old password would leave them
a token and a 14-day refresh family."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.hashers import make_password
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn.credentials.services import user_credentials_revoke
from authn.models import Session, TokenFamily
from authn.rpc_sessions import services as sessions
from authn.sign_in import services as sign_in
from authn.tokens import revocation
from tests.factories import DEFAULT_PASSWORD, UserFactory

NEW_PASSWORD = "a brand new passphrase 2026"


def reset_password(user: User) -> None:
    """What a password reset commits: the new hash, every sign-in ended, tokens revoked."""
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.password = make_password(NEW_PASSWORD)
        locked.save(update_fields=["password"])
        user_credentials_revoke(user=locked)
        revocation.revoke_subject(user_id=str(locked.pk))


def deactivate(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def change_after_the_check(
    monkeypatch: pytest.MonkeyPatch, module: Any, change: Callable[[User], None]
) -> None:
    """Runs `change` right after the sign-in's password check succeeded."""
    real_check = sign_in.password_check

    def checked_then_changed(**kwargs: Any) -> User:
        user = real_check(**kwargs)
        change(user)
        return user

    monkeypatch.setattr(module, "password_check", checked_then_changed)


def change_after_the_token_endpoint_check(
    monkeypatch: pytest.MonkeyPatch, change: Callable[[User], None]
) -> None:
    """Runs `change` right after the token endpoint's password check (which reads the
    account's groups and factors with the user) succeeded."""
    real_check = sign_in.sign_in_account_check

    def checked_then_changed(**kwargs: Any) -> Any:
        checked = real_check(**kwargs)
        change(checked[0].user)
        return checked

    monkeypatch.setattr(sign_in, "sign_in_account_check", checked_then_changed)


def token_request(user: User) -> Any:
    return APIClient().post(
        "/api/v1/auth/token",
        {"username": user.username, "password": DEFAULT_PASSWORD},
        format="json",
    )


def rpc_login(user: User) -> Any:
    return APIClient().post(
        "/user/login",
        {"username": user.username, "password": DEFAULT_PASSWORD},
        format="json",
    )


@pytest.mark.parametrize("change", [reset_password, deactivate], ids=["reset", "deactivation"])
def test_a_change_committed_after_the_password_check_refuses_the_token(
    db: Any, monkeypatch: pytest.MonkeyPatch, change: Callable[[User], None]
) -> None:
    user = UserFactory.create()
    change_after_the_token_endpoint_check(monkeypatch, change)

    response = token_request(user)

    assert response.status_code == 401, response.content
    assert response.json()["code"] == "invalid_credentials"
    assert not TokenFamily.objects.filter(user=user).exists()


@pytest.mark.parametrize("change", [reset_password, deactivate], ids=["reset", "deactivation"])
def test_a_change_committed_after_the_password_check_refuses_the_rpc_session(
    db: Any, monkeypatch: pytest.MonkeyPatch, change: Callable[[User], None]
) -> None:
    user = UserFactory.create()
    change_after_the_check(monkeypatch, sessions, change)

    response = rpc_login(user)

    assert response.status_code == 401, response.content
    assert not Session.objects.filter(user=user).exists()


def test_an_unchanged_account_signs_in(db: Any) -> None:
    user = UserFactory.create()

    assert token_request(user).status_code == 200
    assert rpc_login(user).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_sign_in_waiting_on_a_reset_in_progress_is_refused_after_it_commits() -> None:
    """PostgreSQL: the reset holds the user's row while the sign-in, whose password check read
    the old hash, tries to open its family; once the reset commits, the sign-in is refused."""
    if connection.vendor != "postgresql":
        pytest.skip("row-level locking is exercised on PostgreSQL")
    user = UserFactory.create()
    locked, answers = threading.Event(), list[int]()

    def reset_slowly() -> None:
        try:
            with transaction.atomic():
                row = User.objects.select_for_update().get(pk=user.pk)
                row.password = make_password(NEW_PASSWORD)
                row.save(update_fields=["password"])
                locked.set()
                time.sleep(1.0)  # the sign-in checks the old password and waits on the row
                user_credentials_revoke(user=row)
                revocation.revoke_subject(user_id=str(row.pk))
        finally:
            connections.close_all()

    def sign_in_meanwhile() -> None:
        try:
            locked.wait(10)
            answers.append(token_request(user).status_code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=reset_slowly), threading.Thread(target=sign_in_meanwhile)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not any(thread.is_alive() for thread in threads)
    assert answers == [401]
    assert not TokenFamily.objects.filter(user=user).exists()
    # Refused for the race, not for a wrong password: the old one was still current when read.
    assert not AuditEvent.objects.filter(type="login.failed", subject_id=str(user.pk)).exists()
