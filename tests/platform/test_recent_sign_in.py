"""Account-security changes (MFA, the email address) need the person, not a credential: a
password sign-in within 15 minutes. A leaked API key with `profile` must not be able to enrol
the attacker's authenticator or move the address that receives password resets."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from accounts.models import User
from authn.api_keys.services import api_key_create
from authn.mfa import services as mfa
from authn.sessions.proof import principal_for_session, session_mark_signed_in
from authn.sessions.store import SessionStore
from micro_platform.identity import Principal
from micro_platform.sign_in import (
    RECENT_SIGN_IN_SECONDS,
    FreshMfaRequired,
    RecentSignInRequired,
    signed_in_recently,
)
from tests.authn.helpers import profile_token
from tests.authn.mfa_helpers import CONFIRM_URL, TOTP_URL, code_at, enrol, fresh_code


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def profile_key_client(user: User) -> APIClient:
    minted = api_key_create(
        owner=user, name="leaked", scopes=["profile"], expires_in_days=5, actor=None
    )
    return bearer(minted.key)


def token_client(user: User, *, amr: tuple[str, ...], auth_time: int | None) -> APIClient:
    return bearer(profile_token(user, amr=amr, auth_time=auth_time))


def principal(**overrides: object) -> Principal:
    values: dict[str, object] = {
        "user_id": uuid.uuid4(),
        "username": "p",
        "kind": "user",
        "group_ids": (),
        "scopes": frozenset({"profile"}),
        "method": "jwt",
        "amr": ("pwd",),
        "auth_time": int(time.time()),
    }
    values.update(overrides)
    return Principal(**values)  # type: ignore[arg-type]


# --- the rule itself ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, True),
        ({"method": "session"}, True),
        ({"method": "api_key", "amr": ("api_key",)}, False),
        ({"method": "oauth2"}, False),
        ({"amr": ("api_key",)}, False),  # a token exchanged for a key
        ({"auth_time": None}, False),
        ({"auth_time": int(time.time()) - RECENT_SIGN_IN_SECONDS - 5}, False),
        ({"auth_time": int(time.time()) + 3600}, False),  # from the future: forged or skewed
    ],
)
def test_only_a_recent_password_sign_in_counts(overrides, expected):
    assert signed_in_recently(principal(**overrides)) is expected


# --- MFA --------------------------------------------------------------------------------------


def test_a_profile_api_key_cannot_enrol_an_authenticator(user):
    response = profile_key_client(user).post(TOTP_URL)
    assert response.status_code == 403
    assert response.json()["code"] == "recent_sign_in_required"
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_a_token_exchanged_for_a_key_cannot_enrol_either(user):
    response = token_client(user, amr=("api_key",), auth_time=int(time.time())).post(TOTP_URL)
    assert response.status_code == 403


def test_an_old_password_sign_in_cannot_change_mfa(user):
    stale = int(time.time()) - RECENT_SIGN_IN_SECONDS - 60
    assert token_client(user, amr=("pwd",), auth_time=stale).post(TOTP_URL).status_code == 403


def test_a_fresh_password_sign_in_enrols(user):
    client = token_client(user, amr=("pwd",), auth_time=int(time.time()))
    assert client.post(TOTP_URL).status_code == 201
    device = TOTPDevice.objects.get(user=user)
    assert client.post(CONFIRM_URL, {"otp": code_at(device)}, format="json").status_code == 200


def test_a_profile_api_key_cannot_remove_or_replace_mfa(user):
    device, _ = enrol(user)
    client = profile_key_client(user)
    removed = client.delete(TOTP_URL, {"otp": fresh_code(device)}, format="json")
    assert removed.status_code == 403
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def test_the_services_refuse_a_stale_actor(user):
    with pytest.raises(RecentSignInRequired):
        mfa.totp_begin(user=user, actor=principal(user_id=user.pk, auth_time=None))


# --- the email address -----------------------------------------------------------------------


def test_a_profile_api_key_cannot_move_the_email_address(user):
    response = profile_key_client(user).patch(
        f"/api/v1/users/{user.pk}", {"email": "attacker@example.net"}, format="json"
    )
    assert response.status_code == 403
    user.refresh_from_db()
    assert user.email != "attacker@example.net"


def test_a_fresh_sign_in_changes_the_email_and_the_old_address_is_told(
    user, django_capture_on_commit_callbacks
):
    old = user.email
    client = token_client(user, amr=("pwd",), auth_time=int(time.time()))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch(
            f"/api/v1/users/{user.pk}", {"email": "new-home@example.org"}, format="json"
        )
    assert response.status_code == 200
    (notice,) = [message for message in mail.outbox if message.to == [old]]
    assert "new-home@example.org" in notice.body
    assert response.json()["email_verified"] is False


def test_an_administrator_may_change_another_users_email(admin_client, user):
    response = admin_client.patch(
        f"/api/v1/users/{user.pk}", {"email": "by-admin@example.org"}, format="json"
    )
    assert response.status_code == 200


def test_the_display_name_needs_no_fresh_sign_in(user):
    response = profile_key_client(user).patch(
        f"/api/v1/users/{user.pk}", {"display_name": "Still Me"}, format="json"
    )
    assert response.status_code == 200


# --- password resets go to verified addresses only --------------------------------------------


def test_no_reset_email_for_an_unverified_address(db, django_capture_on_commit_callbacks):
    User.objects.create_user(username="unverified", email="maybe@example.org", password=None)
    with django_capture_on_commit_callbacks(execute=True):
        response = APIClient().post(
            "/user/sendPasswordResetEmail", {"email": "maybe@example.org"}, format="json"
        )
    assert response.status_code == 200  # the same answer as for any address
    assert mail.outbox == []


def test_enrolling_ends_other_sign_ins_but_keeps_the_callers(user, password):
    def login():
        return (
            APIClient()
            .post("/api/v1/auth/token", {"username": user.username, "password": password})
            .json()
        )

    mine, other = login(), login()
    client = bearer(mine["access_token"])
    assert client.post(TOTP_URL).status_code == 201
    device = TOTPDevice.objects.get(user=user)
    assert client.post(CONFIRM_URL, {"otp": code_at(device)}, format="json").status_code == 200
    refresh = "/api/v1/auth/token/refresh"
    assert APIClient().post(refresh, {"refresh_token": other["refresh_token"]}).status_code == 401
    assert APIClient().post(refresh, {"refresh_token": mine["refresh_token"]}).status_code == 200


# --- passkeys ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "recent", "with_mfa"),
    [
        # Passwordless: a discoverable passkey that verified its user (PIN, biometrics).
        ({"method": "session", "amr": ("hwk", "user")}, True, True),
        ({"method": "session", "amr": ("swk", "user")}, True, True),
        # A password, then a passkey (a security key without user verification too).
        ({"method": "session", "amr": ("pwd", "hwk", "user", "mfa")}, True, True),
        ({"method": "session", "amr": ("pwd", "hwk", "mfa")}, True, True),
        # A federated sign-in whose local second factor was a passkey.
        ({"method": "session", "amr": ("fed", "hwk", "mfa")}, True, True),
        # A passkey that neither followed a password nor verified its user is one factor.
        ({"method": "session", "amr": ("hwk",)}, True, False),
        ({"method": "session", "amr": ("pwd",)}, True, False),
        # `user` or `mfa` alone prove nothing here.
        ({"method": "session", "amr": ("user", "mfa")}, False, False),
        # A third-party app's token of a passkey sign-in is not the person.
        ({"method": "oauth2", "amr": ("hwk", "user")}, False, False),
        ({"method": "api_key", "amr": ("api_key",)}, False, False),
        ({"method": "session", "amr": ("hwk", "user"), "auth_time": None}, False, False),
    ],
)
def test_a_passkey_sign_in_is_personal_and_counts_as_fresh_mfa(overrides, recent, with_mfa):
    assert signed_in_recently(principal(**overrides)) is recent
    assert signed_in_recently(principal(**overrides), with_otp=True) is with_mfa


def _mint_admin_key(owner: User, *, amr: tuple[str, ...]) -> str:
    session = SessionStore()
    session_mark_signed_in(session, amr=amr)
    actor = principal_for_session(owner, session)
    minted = api_key_create(
        owner=owner, name="ops", scopes=["api_admin"], expires_in_days=5, actor=actor
    )
    return minted.key


@pytest.mark.parametrize("amr", [("hwk", "user"), ("pwd", "swk", "user", "mfa"), ("pwd", "otp")])
def test_a_passkey_or_code_session_mints_an_api_admin_key(admin_user, amr):
    assert _mint_admin_key(admin_user, amr=amr)


def test_a_password_session_alone_may_not_mint_an_api_admin_key(admin_user):
    with pytest.raises(FreshMfaRequired, match="a one-time code or a passkey"):
        _mint_admin_key(admin_user, amr=("pwd",))
