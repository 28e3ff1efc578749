"""Dashboard sign-in: password step, OTP step, throttling, logout, the admin behind OTP."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from authn.models import DashboardSession
from authn.sessions.store import session_key_hash
from authn.web.auth_views import BAD_CREDENTIALS
from tests.authn.dashboard_helpers import (
    LOGIN_URL,
    LOGOUT_URL,
    OTP_URL,
    PROFILE_URL,
    csrf_client,
    csrf_token,
    enrol_totp,
    session_cookie,
    sign_in,
    totp_code,
)
from tests.authn.mfa_helpers import fresh_code
from tests.factories import DEFAULT_PASSWORD, AdminFactory

pytestmark = pytest.mark.django_db


def _login(client: Client, username: str, password: str, **extra: Any) -> Any:
    return client.post(LOGIN_URL, {"username": username, "password": password, **extra})


def test_login_page_renders_form_with_reset_link(client: Client) -> None:
    response = client.get(LOGIN_URL)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="username"' in body and 'name="password"' in body
    assert 'href="/accounts/password-reset/"' in body
    assert "csrfmiddlewaretoken" in body


def test_signup_link_only_when_signup_open(client: Client, settings: Any) -> None:
    settings.MICRO_SIGNUP_OPEN = False
    assert "/accounts/signup/" not in client.get(LOGIN_URL).content.decode()
    settings.MICRO_SIGNUP_OPEN = True
    assert 'href="/accounts/signup/"' in client.get(LOGIN_URL).content.decode()


def test_login_without_mfa_signs_in_and_audits(client: Client, user: User) -> None:
    response = _login(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == PROFILE_URL
    assert client.get(PROFILE_URL).status_code == 200
    event = AuditEvent.objects.get(type="login.succeeded", subject_id=str(user.pk))
    assert event.data["method"] == "session"
    assert event.data["amr"] == ["pwd"]


def test_unknown_user_and_wrong_password_get_the_same_answer(client: Client, user: User) -> None:
    wrong_password = _login(client, user.username, "not the password")
    unknown_user = _login(client, "nobody-here", "not the password")
    assert wrong_password.status_code == unknown_user.status_code == 400
    assert BAD_CREDENTIALS in wrong_password.content.decode()
    assert BAD_CREDENTIALS in unknown_user.content.decode()
    assert client.get(PROFILE_URL).status_code == 302


def test_login_with_blank_fields_is_a_form_error(client: Client) -> None:
    response = _login(client, "", "")
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()


def test_login_rotates_the_session_id(client: Client, user: User) -> None:
    session = client.session  # an anonymous session, as a visitor would hold
    session["probe"] = 1
    session.save()
    before = session_cookie(client)
    sign_in(client, user)
    assert session_cookie(client) != before
    assert not DashboardSession.objects.filter(key_hash=session_key_hash(before)).exists()
    row = DashboardSession.objects.get(key_hash=session_key_hash(session_cookie(client)))
    assert row.user == user


def test_login_throttled_after_repeated_failures_answers_429(client: Client, user: User) -> None:
    for _ in range(10):
        _login(client, user.username, "wrong password")
    response = _login(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many attempts" in response.content.decode()
    assert client.get(PROFILE_URL).status_code == 302


def test_next_parameter_is_followed_only_on_this_site(client: Client, user: User) -> None:
    response = _login(client, user.username, DEFAULT_PASSWORD, next="/dashboard/security/")
    assert response["Location"] == "/dashboard/security/"
    client.post(LOGOUT_URL)
    response = _login(client, user.username, DEFAULT_PASSWORD, next="https://evil.example/")
    assert response["Location"] == PROFILE_URL


@pytest.mark.parametrize("target", ["nowhere", "logout", "\ufffd\ufffd", "admin:index"])
def test_a_next_that_is_no_url_leads_to_the_dashboard(
    client: Client, user: User, target: str
) -> None:
    """A word, not a path, is no place to go (a redirect would look it up as a view name and
    fail): the sign-in completes and lands on the dashboard."""
    response = _login(client, user.username, DEFAULT_PASSWORD, next=target)
    assert response.status_code == 302
    assert response["Location"] == PROFILE_URL


def test_password_step_of_an_mfa_login_rotates_the_session_id(client: Client, user: User) -> None:
    """The half-signed-in state (password passed, code pending) goes into a new session: a
    session id planted before the password step cannot ride on it to the OTP step."""
    device, _ = enrol_totp(user)
    session = client.session
    session["probe"] = 1
    session.save()
    planted = session_cookie(client)
    assert _login(client, user.username, DEFAULT_PASSWORD)["Location"] == OTP_URL
    pending = session_cookie(client)
    assert pending != planted
    attacker = Client()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = planted
    response = attacker.post(OTP_URL, {"otp_token": totp_code(device, offset_seconds=30)})
    assert response["Location"] == LOGIN_URL
    assert attacker.get(PROFILE_URL).status_code == 302


def test_login_with_mfa_needs_the_code_before_signing_in(client: Client, user: User) -> None:
    device, _ = enrol_totp(user)
    response = _login(client, user.username, DEFAULT_PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == OTP_URL
    # Half signed in: the dashboard still refuses.
    assert client.get(PROFILE_URL).status_code == 302
    response = client.post(OTP_URL, {"otp_token": totp_code(device, offset_seconds=30)})
    assert response["Location"] == PROFILE_URL
    assert client.get(PROFILE_URL).status_code == 200
    event = AuditEvent.objects.get(type="login.succeeded", subject_id=str(user.pk))
    assert event.data["amr"] == ["pwd", "otp"]


def test_otp_step_rejects_a_wrong_code_and_accepts_a_backup_code(
    client: Client, user: User
) -> None:
    _, backup_codes = enrol_totp(user)
    _login(client, user.username, DEFAULT_PASSWORD)
    response = client.post(OTP_URL, {"otp_token": "000000"})
    assert response.status_code == 400
    assert "not valid" in response.content.decode()
    assert client.get(PROFILE_URL).status_code == 302
    response = client.post(OTP_URL, {"otp_token": backup_codes[0]})
    assert response["Location"] == PROFILE_URL


def test_backup_code_is_single_use_at_the_otp_step(client: Client, user: User) -> None:
    _, backup_codes = enrol_totp(user)
    sign_in_with_code = Client()
    _login(sign_in_with_code, user.username, DEFAULT_PASSWORD)
    assert sign_in_with_code.post(OTP_URL, {"otp_token": backup_codes[0]}).status_code == 302
    _login(client, user.username, DEFAULT_PASSWORD)
    assert client.post(OTP_URL, {"otp_token": backup_codes[0]}).status_code == 400


def test_a_code_used_for_the_last_sign_in_asks_for_the_next_code(user: User) -> None:
    device, _ = enrol_totp(user)
    code = fresh_code(device)
    first = Client()
    _login(first, user.username, DEFAULT_PASSWORD)
    assert first.post(OTP_URL, {"otp_token": code}).status_code == 302

    second = Client()
    _login(second, user.username, DEFAULT_PASSWORD)
    response = second.post(OTP_URL, {"otp_token": code})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Wait for the next code" in body and "not valid" not in body


def test_otp_step_without_password_step_redirects_to_login(client: Client) -> None:
    assert client.get(OTP_URL)["Location"] == LOGIN_URL
    assert client.post(OTP_URL, {"otp_token": "123456"})["Location"] == LOGIN_URL


def test_otp_step_throttles_repeated_wrong_codes(client: Client, user: User) -> None:
    device, _ = enrol_totp(user)
    _login(client, user.username, DEFAULT_PASSWORD)
    statuses = [client.post(OTP_URL, {"otp_token": "000000"}).status_code for _ in range(12)]
    assert statuses[-1] == 429
    response = client.post(OTP_URL, {"otp_token": totp_code(device, offset_seconds=30)})
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


def test_logout_requires_post_and_ends_the_session(client: Client, user: User) -> None:
    sign_in(client, user)
    assert client.get(LOGOUT_URL).status_code == 405
    old_cookie = session_cookie(client)
    assert client.post(LOGOUT_URL)["Location"] == LOGIN_URL
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_cookie
    assert replay.get(PROFILE_URL).status_code == 302
    assert replay.get("/api/v1/me").status_code == 401


def test_login_form_enforces_csrf(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    response = client.post(LOGIN_URL, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 403
    client = csrf_client()
    response = client.post(
        LOGIN_URL,
        {
            "username": user.username,
            "password": DEFAULT_PASSWORD,
            "csrfmiddlewaretoken": csrf_token(client),
        },
    )
    assert response.status_code == 302


def test_logout_enforces_csrf(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(LOGOUT_URL).status_code == 403
    assert client.get(PROFILE_URL).status_code == 200


def test_admin_login_goes_through_the_dashboard_login(client: Client) -> None:
    response = client.get("/admin/")
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL + "?next=")


def test_admin_without_device_is_open_to_staff_after_password(client: Client) -> None:
    admin = AdminFactory.create()
    sign_in(client, admin)
    assert client.get("/admin/").status_code == 200


def test_admin_with_device_requires_otp_in_this_session(client: Client) -> None:
    admin = AdminFactory.create()
    enrol_totp(admin)
    admin.refresh_from_db()  # enrolment changed the security stamp the session hash carries
    forced = Client()
    forced.force_login(admin)  # a valid session that never passed the OTP step
    assert forced.get("/dashboard/").status_code == 200, "the session itself must be valid"
    response = forced.get("/admin/")
    assert response.status_code == 302
    assert response["Location"] == "/admin/login/?next=/admin/"  # then on to the OTP sign-in
    sign_in(client, admin)
    assert client.get("/admin/").status_code == 200


def test_admin_refuses_non_staff(client: Client, user: User) -> None:
    sign_in(client, user)
    assert client.get("/admin/").status_code == 302
