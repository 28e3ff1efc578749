"""Accounts ends and consults credentials only through the MICRO_CREDENTIALS_BACKEND module."""

from __future__ import annotations

import sys
import types
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import override_settings

from accounts import services
from accounts.models import User
from accounts.ports import CredentialsBackend, credentials
from accounts.principals import principal_for_user
from authn import account_port
from micro_platform.identity import Principal

# The project's backend, checked against the port's protocol by mypy.
PROJECT_BACKEND: CredentialsBackend = account_port

pytestmark = pytest.mark.django_db

calls: list[tuple[str, dict[str, Any]]] = []


def _recorder(name: str) -> Any:
    def record(**kwargs: Any) -> Any:
        calls.append((name, kwargs))
        return name == "current_password_check"

    return record


# A stand-in backend module: records every call instead of touching authn.
recording = types.ModuleType("tests.accounts.recording_credentials")
for _name in (
    "user_credentials_revoke",
    "user_api_keys_revoke",
    "current_password_check",
    "user_has_mfa",
    "account_unlock",
    "mfa_reset_by_admin",
):
    setattr(recording, _name, _recorder(_name))


@pytest.fixture
def recording_backend(
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    monkeypatch.setitem(sys.modules, recording.__name__, recording)
    calls.clear()
    with override_settings(MICRO_CREDENTIALS_BACKEND=recording.__name__):
        yield calls


def test_the_project_backend_is_authn() -> None:
    assert credentials() is account_port


def test_deactivating_a_user_ends_every_credential_through_the_port(
    recording_backend: list[tuple[str, dict[str, Any]]], admin_user: User, user: User
) -> None:
    services.user_deactivate(actor=principal_for_user(admin_user, method="jwt"), user=user)
    assert recording_backend == [("user_credentials_revoke", {"user": user, "access_tokens": True})]


def test_a_password_change_checks_and_ends_sign_ins_through_the_port(
    recording_backend: list[tuple[str, dict[str, Any]]], user: User, password: str
) -> None:
    actor = Principal(
        user_id=user.pk,
        username=user.username,
        kind="user",
        group_ids=(),
        scopes=frozenset({"profile"}),
        method="jwt",
        amr=("pwd",),
        session_id=str(uuid.uuid4()),
    )
    services.user_password_change(
        actor=actor, user=user, old_password=password, new_password="An0ther-long-passphrase!"
    )
    assert [name for name, _ in recording_backend] == [
        "current_password_check",
        "user_credentials_revoke",
    ]
    assert recording_backend[1][1] == {"user": user, "keep_family": actor.session_id}
