"""The caller's passkeys through the API: listed without key material, renamed, removed (fresh
MFA, never another user's, never the last way in nor a required last factor)."""

from __future__ import annotations

import time
from base64 import b64encode
from typing import Any

import pytest
from django.test import RequestFactory
from django_otp_webauthn.models import WebAuthnCredential
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys.services import api_key_create
from authn.mfa.webauthn import MicroWebAuthnHelper
from tests.authn.helpers import profile_token
from tests.authn.mfa.passkey_helpers import SoftAuthenticator, b64url
from tests.authn.mfa_helpers import MFA_URL, enrol

pytestmark = pytest.mark.django_db

PASSKEY_FIELDS = {
    "id",
    "name",
    "created_at",
    "last_used_at",
    "backed_up",
    "backup_eligible",
    "passwordless",
    "disabled",
}


@pytest.fixture(autouse=True)
def _passkeys_on(settings: Any) -> None:
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost:8000"]
    settings.MICRO_PASSKEYS_ENABLED = True


def add_passkey(user: User, name: str = "laptop", **key: Any) -> WebAuthnCredential:
    helper = MicroWebAuthnHelper(RequestFactory().get("/"))
    options, state = helper.register_begin(user)
    device = helper.register_complete(user, state, SoftAuthenticator(**key).register(options))
    WebAuthnCredential.objects.filter(pk=device.pk).update(name=name)
    device.refresh_from_db()
    return device


def client(user: User, *amr: str, age: int = 0) -> APIClient:
    """A client with the user's own sign-in token: `amr`, `age` seconds ago."""
    api = APIClient()
    token = profile_token(user, amr=amr, auth_time=int(time.time()) - age)
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api


def url(passkey_id: int) -> str:
    return f"/api/v1/me/mfa/passkeys/{passkey_id}"


# --- GET /api/v1/me/mfa -------------------------------------------------------------------------


def test_status_lists_the_callers_passkeys_without_key_material(user, other_user):
    synced = add_passkey(user, "phone", backup_eligible=True, backed_up=True)
    add_passkey(other_user, "theirs")

    response = client(user, "pwd").get(MFA_URL)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["totp"] is False and body["mfa"] is True
    (listed,) = body["passkeys"]
    assert set(listed) == PASSKEY_FIELDS
    assert listed["id"] == synced.pk and listed["name"] == "phone"
    assert listed["backed_up"] is True and listed["backup_eligible"] is True
    assert listed["passwordless"] is True and listed["disabled"] is False
    assert listed["last_used_at"] is None
    text = response.content.decode()
    for secret in (bytes(synced.public_key), bytes(synced.credential_id)):
        assert secret.hex() not in text
        assert b64url(secret) not in text and b64encode(secret).decode() not in text


def test_status_says_totp_only_for_totp_and_marks_a_disabled_passkey(user):
    enrol(user)
    device = add_passkey(user)
    WebAuthnCredential.objects.filter(pk=device.pk).update(confirmed=False)

    body = client(user, "pwd").get(MFA_URL).json()

    assert body["totp"] is True and body["mfa"] is True
    assert body["passkeys"][0]["disabled"] is True


def test_status_of_a_user_without_factors(user):
    body = client(user, "pwd").get(MFA_URL).json()
    assert (body["totp"], body["mfa"], body["passkeys"]) == (False, False, [])


# --- DELETE /api/v1/me/mfa/passkeys/{id} --------------------------------------------------------


@pytest.mark.parametrize("amr", [("hwk", "user"), ("pwd", "otp"), ("pwd", "swk", "user", "mfa")])
def test_a_fresh_second_factor_removes_a_passkey(user, amr):
    device = add_passkey(user)

    response = client(user, *amr).delete(url(device.pk))

    assert response.status_code == 204, response.content
    assert not WebAuthnCredential.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(type="mfa.removed")
    assert event.data["via"] == "api" and event.data["credential"] == device.pk


@pytest.mark.parametrize("passkey_id", [0, 999_999, 2**63])
def test_an_unknown_passkey_is_not_found(user, passkey_id):
    response = client(user, "pwd", "otp").delete(url(passkey_id))
    assert response.status_code == 404
    assert response.json()["code"] == "passkey_not_found"


def test_another_users_passkey_is_not_found_and_stays(user, other_user):
    theirs = add_passkey(other_user)

    response = client(user, "pwd", "otp").delete(url(theirs.pk))

    assert response.status_code == 404
    assert response.json()["code"] == "passkey_not_found"
    assert WebAuthnCredential.objects.filter(pk=theirs.pk).exists()


@pytest.mark.parametrize(
    ("amr", "age"),
    [(("pwd",), 0), (("pwd", "otp"), 3600), (("hwk",), 0)],
)
def test_removal_needs_a_fresh_second_factor(user, amr, age):
    device = add_passkey(user)

    response = client(user, *amr, age=age).delete(url(device.pk))

    assert response.status_code == 403
    assert response.json()["code"] == "fresh_mfa_required"
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


def test_an_api_key_cannot_remove_a_passkey(user):
    device = add_passkey(user)
    minted = api_key_create(
        owner=user, name="leaked", scopes=["profile"], expires_in_days=5, actor=None
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {minted.key}")

    assert api.delete(url(device.pk)).status_code == 403
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


def test_the_last_way_in_is_not_removed(user):
    user.set_unusable_password()
    user.save()
    device = add_passkey(user)

    response = client(user, "hwk", "user").delete(url(device.pk))

    assert response.status_code == 409
    assert response.json()["code"] == "last_sign_in_method"
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


def test_the_last_factor_of_an_account_that_must_have_mfa_is_not_removed(settings, admin_user):
    settings.MICRO_MFA_REQUIRED_FOR_ADMINS = True
    device = add_passkey(admin_user)

    response = client(admin_user, "pwd", "hwk", "user", "mfa").delete(url(device.pk))

    assert response.status_code == 409
    assert response.json()["code"] == "mfa_required"
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


# --- PATCH /api/v1/me/mfa/passkeys/{id} ---------------------------------------------------------


def test_a_recent_sign_in_renames_a_passkey(user):
    device = add_passkey(user)

    response = client(user, "pwd").patch(url(device.pk), {"name": "Work key"}, format="json")

    assert response.status_code == 204, response.content
    device.refresh_from_db()
    assert device.name == "Work key"


@pytest.mark.parametrize(
    "body", [{"name": ""}, {"name": "x" * 65}, {"name": "a\x00b"}, {"label": "x"}, []]
)
def test_a_bad_name_is_a_400(user, body):
    device = add_passkey(user)

    response = client(user, "pwd").patch(url(device.pk), body, format="json")

    assert response.status_code == 400
    device.refresh_from_db()
    assert device.name == "laptop"


def test_renaming_another_users_passkey_is_not_found(user, other_user):
    theirs = add_passkey(other_user, "theirs")

    response = client(user, "pwd").patch(url(theirs.pk), {"name": "mine"}, format="json")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "theirs"


def test_renaming_needs_a_recent_sign_in(user):
    device = add_passkey(user)

    response = client(user, "pwd", age=3600).patch(url(device.pk), {"name": "x"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "recent_sign_in_required"


def test_a_patch_without_a_name_changes_nothing_but_still_hides_other_passkeys(user, other_user):
    mine, theirs = add_passkey(user), add_passkey(other_user, "theirs")

    assert client(user, "pwd").patch(url(mine.pk), {}, format="json").status_code == 204
    assert client(user, "pwd").patch(url(theirs.pk), {}, format="json").status_code == 404
    mine.refresh_from_db()
    assert mine.name == "laptop"
