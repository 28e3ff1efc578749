"""The security page: TOTP enrolment, backup codes, removal, passkeys, password change, sign-in
events."""

from __future__ import annotations

import base64
import re
import time
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import User
from authn.mfa import services as mfa
from authn.mfa.services import backup_codes_remaining, user_has_mfa
from authn.sessions.proof import AUTH_TIME_KEY
from micro_platform.sign_in import RECENT_SIGN_IN_SECONDS
from tests.authn.dashboard_helpers import SECURITY_URL, enrol_totp, sign_in, totp_code
from tests.authn.mfa_helpers import fresh_code
from tests.authn.web.passkey_flows import (
    LOGIN_BEGIN,
    LOGIN_COMPLETE,
    passkeys_on,
    post_json,
    register,
    soft_key,
)
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 42"
SECRET = re.compile(r'<code id="totp-secret" class="secret">([A-Z2-7]+)</code>')
BACKUP_CODE = re.compile(r"<li><code>([0-9a-z]{5}-[0-9a-z]{5})</code></li>")


@pytest.fixture
def dashboard(user: User) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def _begin(client: Client) -> str:
    response = client.post("/dashboard/security/totp")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'src="data:image/svg+xml;base64,' in body
    match = SECRET.search(body)
    assert match is not None
    return match.group(1)


def _code_for_secret(secret: str, user: User) -> str:
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    assert base64.b32encode(device.bin_key).decode() == secret
    return totp_code(device)


def test_security_page_shows_mfa_off_and_sections(dashboard: Client) -> None:
    body = dashboard.get(SECURITY_URL).content.decode()
    assert "Set up an authenticator app" in body
    assert "Change password" in body and "Active sessions" in body and "Recent sign-ins" in body


def test_totp_enrolment_through_the_page(dashboard: Client, user: User) -> None:
    secret = _begin(dashboard)
    response = dashboard.post(
        "/dashboard/security/totp/confirm", {"otp_token": _code_for_secret(secret, user)}
    )
    assert response.status_code == 200
    codes = BACKUP_CODE.findall(response.content.decode())
    assert len(codes) == 10
    assert user_has_mfa(user=user)
    page = dashboard.get(SECURITY_URL).content.decode()
    assert "Backup codes left: 10" in page
    assert codes[0] not in page


def _wrong_code(device_user: User) -> str:
    device = TOTPDevice.objects.get(user=device_user, confirmed=False)
    return f"{(int(totp_code(device)) + 1) % 1_000_000:06d}"


def test_totp_confirm_with_a_wrong_code_keeps_the_secret(dashboard: Client, user: User) -> None:
    secret = _begin(dashboard)
    response = dashboard.post("/dashboard/security/totp/confirm", {"otp_token": _wrong_code(user)})
    assert response.status_code == 400
    body = response.content.decode()
    assert "That code is not valid." in body and "Start again" not in body
    assert SECRET.findall(body) == [secret]  # the same secret, and its QR code
    assert 'src="data:image/svg+xml;base64,' in body
    assert not user_has_mfa(user=user)

    response = dashboard.post(
        "/dashboard/security/totp/confirm", {"otp_token": _code_for_secret(secret, user)}
    )
    assert response.status_code == 200
    assert user_has_mfa(user=user)


def test_totp_enrolment_ends_after_five_wrong_codes(dashboard: Client, user: User) -> None:
    secret = _begin(dashboard)
    for _ in range(mfa.TOTP_ENROLMENT_TRIES - 1):
        response = dashboard.post("/dashboard/security/totp/confirm", {"otp_token": "000000"})
        assert SECRET.findall(response.content.decode()) == [secret]
    response = dashboard.post("/dashboard/security/totp/confirm", {"otp_token": "000000"})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Start again" in body and secret not in body
    assert not TOTPDevice.objects.filter(user=user).exists()
    again = dashboard.post("/dashboard/security/totp/confirm", {"otp_token": "000000"})
    assert again.status_code == 409


def test_totp_confirm_without_begin_is_a_conflict(dashboard: Client) -> None:
    response = dashboard.post("/dashboard/security/totp/confirm", {"otp_token": "123456"})
    assert response.status_code == 409


def test_totp_confirm_with_blank_code_is_a_form_error(dashboard: Client) -> None:
    response = dashboard.post("/dashboard/security/totp/confirm", {"otp_token": ""})
    assert response.status_code == 400


@pytest.fixture
def enrolled(user: User) -> tuple[Client, Any, list[str]]:
    """A dashboard signed in by a user with TOTP (enrolment ends other sessions, so it comes
    first); the OTP step takes the last backup code, leaving the TOTP steps unused."""
    device, codes = enrol_totp(user)
    client = Client()
    response = client.post(
        "/accounts/login/", {"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 302
    response = client.post("/accounts/login/otp/", {"otp_token": codes[-1]})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    return client, device, codes[:-1]


def test_enrolling_ends_the_users_other_sessions(dashboard: Client, user: User) -> None:
    enrol_totp(user)  # from elsewhere (another session, the API)
    response = dashboard.get("/dashboard/security/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_begin_when_enrolled_is_refused_with_a_message(enrolled: Any) -> None:
    dashboard, _, _ = enrolled
    response = dashboard.post("/dashboard/security/totp", follow=True)
    assert "already exists" in response.content.decode()


def test_regenerate_backup_codes_needs_a_current_code(enrolled: Any) -> None:
    dashboard, device, old_codes = enrolled
    response = dashboard.post("/dashboard/security/backup-codes", {"otp_token": "000000"})
    assert response.status_code == 400
    response = dashboard.post(
        "/dashboard/security/backup-codes", {"otp_token": totp_code(device, offset_seconds=30)}
    )
    assert response.status_code == 200
    new_codes = BACKUP_CODE.findall(response.content.decode())
    assert len(new_codes) == 10 and not set(new_codes) & set(old_codes)


def test_a_code_used_in_this_time_step_asks_for_the_next_code(enrolled: Any) -> None:
    dashboard, device, _ = enrolled
    code = fresh_code(device)
    used = dashboard.post("/dashboard/security/backup-codes", {"otp_token": code})
    assert used.status_code == 200

    response = dashboard.post("/dashboard/security/totp/remove", {"otp_token": code})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Wait for the next code" in body and "not valid" not in body
    wrong = dashboard.post("/dashboard/security/totp/remove", {"otp_token": _wrong_totp(code)})
    assert "That code is not valid." in wrong.content.decode()


def _wrong_totp(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


def test_remove_totp_needs_a_current_code(enrolled: Any, user: User) -> None:
    dashboard, device, backup_codes = enrolled
    response = dashboard.post("/dashboard/security/totp/remove", {"otp_token": "000000"})
    assert response.status_code == 400
    assert user_has_mfa(user=user)
    response = dashboard.post("/dashboard/security/totp/remove", {"otp_token": backup_codes[0]})
    assert response.status_code == 302
    assert not user_has_mfa(user=user)
    assert backup_codes_remaining(user=user) == 0


def test_wrong_codes_on_the_security_page_are_throttled(enrolled: Any, user: User) -> None:
    dashboard, _, _ = enrolled
    statuses = [
        dashboard.post("/dashboard/security/totp/remove", {"otp_token": "000000"}).status_code
        for _ in range(12)
    ]
    assert statuses[-1] == 429
    assert user_has_mfa(user=user)


def _change(client: Client, **fields: str) -> Any:
    data = {
        "old_password": DEFAULT_PASSWORD,
        "new_password": NEW_PASSWORD,
        "new_password_again": NEW_PASSWORD,
        **fields,
    }
    return client.post("/dashboard/security/password", data)


def test_password_change_needs_the_current_password(dashboard: Client, user: User) -> None:
    response = _change(dashboard, old_password="not it")
    assert response.status_code == 400
    assert "current password is incorrect" in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"new_password": "short", "new_password_again": "short"}, "too short"),
        ({"new_password": "password123", "new_password_again": "password123"}, "too common"),
        ({"new_password_again": "something else entirely"}, "differ"),
        ({"old_password": ""}, "This field is required."),
    ],
)
def test_password_change_bad_input_is_a_form_error(
    dashboard: Client, user: User, fields: dict[str, str], message: str
) -> None:
    response = _change(dashboard, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_password_change_succeeds_and_the_new_password_signs_in(
    dashboard: Client, user: User
) -> None:
    assert _change(dashboard).status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    sign_in(Client(), user, password=NEW_PASSWORD)


def test_recent_sign_ins_list_only_own_events(
    dashboard: Client, user: User, other_user: User
) -> None:
    Client().post("/accounts/login/", {"username": user.username, "password": "nope"})
    sign_in(Client(), other_user)
    body = dashboard.get(SECURITY_URL).content.decode()
    assert body.count('badge ok">success') == 1
    assert "failed" in body


@pytest.mark.parametrize(
    "url",
    [
        "/dashboard/security/totp",
        "/dashboard/security/totp/confirm",
        "/dashboard/security/totp/remove",
        "/dashboard/security/backup-codes",
        "/dashboard/security/password",
    ],
)
def test_security_forms_enforce_csrf(user: User, url: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(url, {"otp_token": "123456"}).status_code == 403


def test_security_page_rejects_get_on_actions(dashboard: Client) -> None:
    assert dashboard.get("/dashboard/security/password").status_code == 405
    assert dashboard.post(SECURITY_URL).status_code == 405


# --- the pending secret: recent sign-in only, and an enrolment's life -------------------------

CONFIRM_PAGE_URL = "/dashboard/security/totp/confirm"


def _age_the_sign_in(client: Client) -> None:
    """Moves the session's sign-in past the recent-sign-in window."""
    session = client.session
    session[AUTH_TIME_KEY] = int(time.time()) - RECENT_SIGN_IN_SECONDS - 60
    session.save()


@pytest.mark.parametrize("code", ["", "1" * 200, "wrong"])
def test_a_session_past_the_recent_window_never_sees_the_pending_secret(
    dashboard: Client, user: User, code: str
) -> None:
    secret = _begin(dashboard)
    _age_the_sign_in(dashboard)
    otp_token = _wrong_code(user) if code == "wrong" else code
    response = dashboard.post(CONFIRM_PAGE_URL, {"otp_token": otp_token})
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")
    body = response.content.decode()
    assert secret not in body and "data:image/svg" not in body
    followed = dashboard.get(response["Location"]).content.decode()
    assert secret not in followed and "data:image/svg" not in followed
    assert TOTPDevice.objects.filter(user=user, confirmed=False).exists()


def test_a_blank_or_overlong_code_shows_a_form_error_without_the_secret(
    dashboard: Client, user: User
) -> None:
    secret = _begin(dashboard)
    for code in ("", "1" * 200):
        response = dashboard.post(CONFIRM_PAGE_URL, {"otp_token": code})
        assert response.status_code == 400
        body = response.content.decode()
        assert secret not in body and "data:image/svg" not in body
        assert "Start again to get a secret to scan" in body
    # The enrolment is intact: a wrong code still shows it again.
    response = dashboard.post(CONFIRM_PAGE_URL, {"otp_token": _wrong_code(user)})
    assert SECRET.findall(response.content.decode()) == [secret]


def _age_the_enrolment(user: User, seconds: int) -> None:
    TOTPDevice.objects.filter(user=user, confirmed=False).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_an_enrolment_past_its_life_is_gone_on_the_page(dashboard: Client, user: User) -> None:
    secret = _begin(dashboard)
    code = _code_for_secret(secret, user)
    _age_the_enrolment(user, mfa.TOTP_ENROLMENT_SECONDS + 1)
    response = dashboard.post(CONFIRM_PAGE_URL, {"otp_token": code})
    assert response.status_code == 409
    body = response.content.decode()
    assert "Start the enrolment first." in body
    assert secret not in body and "data:image/svg" not in body
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not user_has_mfa(user=user)


def test_a_wrong_code_after_the_enrolments_life_shows_no_secret(
    dashboard: Client, user: User
) -> None:
    secret = _begin(dashboard)
    wrong = _wrong_code(user)
    _age_the_enrolment(user, mfa.TOTP_ENROLMENT_SECONDS + 1)
    response = dashboard.post(CONFIRM_PAGE_URL, {"otp_token": wrong})
    assert response.status_code == 409
    assert secret not in response.content.decode()
    assert not TOTPDevice.objects.filter(user=user).exists()


# --- passkeys ---------------------------------------------------------------------------------

PASSKEYS_URL = "/dashboard/security/#passkeys"


@pytest.fixture
def with_passkeys(settings: Any) -> None:
    passkeys_on(settings)


@pytest.fixture
def passkey_session(with_passkeys: None, user: User) -> tuple[Client, WebAuthnCredential]:
    """A passkey of `user`, registered through the dashboard, and the session that did it."""
    client = Client()
    sign_in(client, user)
    passkey_id = register(user, soft_key(), client=client)["id"]
    return client, WebAuthnCredential.objects.get(pk=passkey_id)


@pytest.fixture
def passkey(passkey_session: tuple[Client, WebAuthnCredential]) -> WebAuthnCredential:
    return passkey_session[1]


def test_the_passkeys_card_lists_them_and_offers_to_add_one(passkey: WebAuthnCredential) -> None:
    client = Client()
    sign_in(client, UserFactory.create())
    WebAuthnCredential.objects.filter(pk=passkey.pk).update(name="Green <key>")
    mine = Client()
    mine.force_login(passkey.user)
    html = mine.get(SECURITY_URL).content.decode()
    for fragment in (
        'id="passkeys"',
        "Green &lt;key&gt;",
        f'action="/dashboard/security/passkeys/{passkey.pk}/rename/"',
        f'action="/dashboard/security/passkeys/{passkey.pk}/remove/"',
        'id="passkey-registration-placeholder"',
        '<template id="passkey-registration-available-template">',
        'id="passkey-register-button"',
        'id="passkey-register-status-message" class="passkey-status" role="status"',
        'id="id_passkey_name"',
        'id="passkey-backup-codes" hidden',
        '<script id="otp_webauthn_config" type="application/json">',
        'type="module" src="/static/django_otp_webauthn/otp_webauthn_register.js"',
        'src="/static/micro/dashboard.js"',
    ):
        assert fragment in html, fragment
    assert "Green" not in client.get(SECURITY_URL).content.decode()  # only one's own


def test_the_passkeys_card_is_hidden_while_passkeys_are_off(dashboard: Client) -> None:
    html = dashboard.get(SECURITY_URL).content.decode()
    assert 'id="passkeys"' not in html and "otp_webauthn" not in html


def test_a_passkey_is_not_an_authenticator_app(passkey: WebAuthnCredential) -> None:
    client = Client()
    client.force_login(passkey.user)
    html = client.get(SECURITY_URL).content.decode()
    assert "An authenticator app is set up" not in html
    assert "Set up an authenticator app" in html


def test_renaming_a_passkey(passkey_session: tuple[Client, WebAuthnCredential]) -> None:
    dashboard, passkey = passkey_session
    url = f"/dashboard/security/passkeys/{passkey.pk}/rename/"
    response = dashboard.post(url, {"name": "  Laptop  "})
    assert response.status_code == 302 and response["Location"] == PASSKEYS_URL
    passkey.refresh_from_db()
    assert passkey.name == "Laptop"
    assert dashboard.post(url, {"name": ""}).status_code == 400
    assert dashboard.post(url, {"name": "x" * 65}).status_code == 400
    assert dashboard.post(url, {"name": "a\x00b"}).status_code == 400
    passkey.refresh_from_db()
    assert passkey.name == "Laptop"


def test_another_users_passkey_cannot_be_renamed_or_removed(
    with_passkeys: None, passkey: WebAuthnCredential
) -> None:
    other = UserFactory.create()
    enrol_totp(other)
    client = Client()
    sign_in(client, other)  # with a code just now: removal's fresh second factor
    for action, data in (("rename", {"name": "mine"}), ("remove", {})):
        response = client.post(f"/dashboard/security/passkeys/{passkey.pk}/{action}/", data)
        assert response.status_code == 404, action
    assert dashboard_passkey_count(passkey.user) == 1
    passkey.refresh_from_db()
    assert passkey.name != "mine"


def dashboard_passkey_count(user: User) -> int:
    return WebAuthnCredential.objects.filter(user=user).count()


def test_removing_a_passkey_needs_a_fresh_second_factor(with_passkeys: None, user: User) -> None:
    enrol_totp(user)
    client = Client()
    sign_in(client, user)  # with a code
    passkey_id = register(user, soft_key(), client=client)["id"]
    _age_the_sign_in(client)
    url = f"/dashboard/security/passkeys/{passkey_id}/remove/"
    response = client.post(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert dashboard_passkey_count(user) == 1
    sign_in(client, user)
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == PASSKEYS_URL
    assert dashboard_passkey_count(user) == 0


def test_passkey_actions_are_404_while_passkeys_are_off(
    passkey_session: tuple[Client, WebAuthnCredential], settings: Any
) -> None:
    dashboard, passkey = passkey_session
    settings.MICRO_PASSKEYS_ENABLED = False
    for action in ("rename", "remove"):
        url = f"/dashboard/security/passkeys/{passkey.pk}/{action}/"
        assert dashboard.post(url, {"name": "x"}).status_code == 404


def test_recent_sign_ins_name_a_passkey(with_passkeys: None, user: User) -> None:
    key = soft_key()
    register(user, key)
    client = Client()
    options = post_json(client, LOGIN_BEGIN).json()
    assert post_json(client, LOGIN_COMPLETE, key.assert_(options)).status_code == 200
    html = client.get(SECURITY_URL).content.decode()
    assert '<td data-label="Method">session (security key + verified)</td>' in html
    assert '<td data-label="Method">session (password)</td>' in html  # the sign-in before
    # The session list says how this session signed in.
    assert '<td data-label="Signed in with">security key + verified</td>' in html


def test_a_passkey_only_user_gets_new_backup_codes_after_a_passkey_sign_in(
    with_passkeys: None, user: User
) -> None:
    key = soft_key()
    register(user, key)  # the first second factor: backup codes issued with it
    client = Client()
    options = post_json(client, LOGIN_BEGIN).json()
    assert post_json(client, LOGIN_COMPLETE, key.assert_(options)).status_code == 200
    html = client.get(SECURITY_URL).content.decode()
    assert 'id="passkey-backup-codes-form"' in html and "Backup codes left: 10." in html
    old = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))

    response = client.post("/dashboard/security/backup-codes")

    assert response.status_code == 200
    codes = BACKUP_CODE.findall(response.content.decode())
    assert len(codes) == 10
    new = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert len(new) == 10 and not new & old


def test_new_backup_codes_without_a_code_need_a_fresh_passkey_sign_in(
    with_passkeys: None, user: User
) -> None:
    key = soft_key()
    register(user, key)
    client = Client()
    options = post_json(client, LOGIN_BEGIN).json()
    assert post_json(client, LOGIN_COMPLETE, key.assert_(options)).status_code == 200
    _age_the_sign_in(client)
    before = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))

    response = client.post("/dashboard/security/backup-codes")

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    after = set(StaticToken.objects.filter(device__user=user).values_list("token", flat=True))
    assert after == before


def test_an_authenticator_app_user_still_needs_a_code_for_new_backup_codes(user: User) -> None:
    enrol_totp(user)
    dashboard = Client()
    sign_in(dashboard, user)  # with a code
    before = backup_codes_remaining(user=user)
    response = dashboard.post("/dashboard/security/backup-codes")
    assert response.status_code == 400
    assert backup_codes_remaining(user=user) == before
