"""Session security: hashed session store, ending sessions, cookies, headers."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import User
from accounts.principals import principal_for_user
from accounts.services import user_deactivate
from authn.models import DashboardSession
from authn.sessions.authentication import SessionPrincipalAuthentication
from authn.sessions.store import SessionStore, session_key_hash
from authn.web.middleware import LAST_SEEN_KEY
from tests.authn.dashboard_helpers import (
    LOGIN_URL,
    PROFILE_URL,
    SECURITY_URL,
    enrol_totp,
    session_cookie,
    sign_in,
)
from tests.factories import DEFAULT_PASSWORD, AdminFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 42"


def _signed_in(user: User, **headers: Any) -> Client:
    client = Client(**headers)
    sign_in(client, user)
    return client


def _is_signed_in(client: Client) -> bool:
    return client.get(PROFILE_URL).status_code == 200


def test_database_holds_only_a_hash_of_the_session_key(user: User) -> None:
    client = _signed_in(user)
    key = session_cookie(client)
    row = DashboardSession.objects.get(user=user)
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    for value in DashboardSession.objects.values_list():
        assert key not in json.dumps(value, default=str)


def test_session_row_records_client_and_expiry(user: User) -> None:
    client = _signed_in(user, HTTP_USER_AGENT="TestBrowser/1.0", REMOTE_ADDR="203.0.113.9")
    row = DashboardSession.objects.get(key_hash=session_key_hash(session_cookie(client)))
    assert row.user_agent == "TestBrowser/1.0"
    assert row.ip_address == "203.0.113.9"
    assert row.expire_date > row.created_at


def test_last_seen_is_refreshed_at_most_once_a_minute(user: User) -> None:
    client = _signed_in(user)
    key_hash = session_key_hash(session_cookie(client))
    client.get(PROFILE_URL)
    first = DashboardSession.objects.get(key_hash=key_hash).last_seen_at
    client.get(PROFILE_URL)
    assert DashboardSession.objects.get(key_hash=key_hash).last_seen_at == first
    store = SessionStore(session_cookie(client))
    store[LAST_SEEN_KEY] = int(time.time()) - 120
    store.save()
    client.get(PROFILE_URL)
    assert DashboardSession.objects.get(key_hash=key_hash).last_seen_at > first


def test_unknown_or_forged_cookie_is_anonymous(client: Client) -> None:
    client.cookies[settings.SESSION_COOKIE_NAME] = "x" * 32
    assert client.get(PROFILE_URL).status_code == 302


def test_a_hash_from_the_database_is_not_a_usable_cookie(user: User) -> None:
    _signed_in(user)
    stolen = Client()
    stolen.cookies[settings.SESSION_COOKIE_NAME] = DashboardSession.objects.get().key_hash
    assert stolen.get(PROFILE_URL).status_code == 302


def test_password_change_ends_other_sessions_and_keeps_this_one(user: User) -> None:
    mine, other = _signed_in(user), _signed_in(user)
    response = mine.post(
        "/dashboard/security/password",
        {
            "old_password": DEFAULT_PASSWORD,
            "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD,
        },
    )
    assert response.status_code == 302
    assert _is_signed_in(mine)
    assert not _is_signed_in(other)
    assert DashboardSession.objects.filter(user=user).count() == 1


def test_logout_all_through_the_api_ends_dashboard_sessions(user: User, user_client: Any) -> None:
    dashboard = _signed_in(user)
    assert user_client.post("/api/v1/auth/logout-all").status_code == 204
    assert not _is_signed_in(dashboard)
    assert not DashboardSession.objects.filter(user=user).exists()


def test_deactivation_ends_dashboard_sessions(user: User) -> None:
    dashboard = _signed_in(user)
    admin = AdminFactory.create()
    user_deactivate(actor=principal_for_user(admin, method="jwt"), user=user)
    assert not _is_signed_in(dashboard)


def test_security_stamp_change_alone_ends_the_session(user: User) -> None:
    """Even with the row intact, a new stamp fails Django's per-request session hash check."""
    dashboard = _signed_in(user)
    User.objects.filter(pk=user.pk).update(security_stamp="changed")
    assert not _is_signed_in(dashboard)


def test_old_cookie_after_logout_is_refused_by_the_api(user: User) -> None:
    dashboard = _signed_in(user)
    cookie = session_cookie(dashboard)
    assert dashboard.get("/api/v1/me").status_code == 200
    dashboard.post("/accounts/logout/")
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = cookie
    assert replay.get("/api/v1/me").status_code == 401


def test_security_page_lists_sessions_and_revokes_another(user: User) -> None:
    mine = _signed_in(user, HTTP_USER_AGENT="Mine/1.0")
    other = _signed_in(user, HTTP_USER_AGENT="Other/2.0")
    body = mine.get(SECURITY_URL).content.decode()
    assert "Mine/1.0" in body and "Other/2.0" in body and "this session" in body
    other_row = DashboardSession.objects.get(key_hash=session_key_hash(session_cookie(other)))
    response = mine.post(f"/dashboard/security/sessions/{other_row.pk}/revoke")
    assert response.status_code == 302
    assert not _is_signed_in(other)
    assert _is_signed_in(mine)


def test_security_page_names_browsers_and_gives_times_with_their_zone(user: User) -> None:
    chrome = (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
        " Chrome/124.0.0.0 Safari/537.36"
    )
    client = _signed_in(user, HTTP_USER_AGENT=chrome)
    body = client.get(SECURITY_URL).content.decode()
    sessions = body.split('id="sessions"')[1].split("</section>")[0]
    assert ">Chrome on Linux</span>" in sessions
    assert f">{chrome}<" not in sessions  # the raw string only as the cell's title
    assert sessions.count(" UTC</time>") == 2  # started, last seen
    events = body.split('id="events"')[1].split("</section>")[0]
    assert " UTC</time>" in events and "data-local-time" in events


def test_revoking_the_current_session_signs_out(user: User) -> None:
    mine = _signed_in(user)
    row = DashboardSession.objects.get(key_hash=session_key_hash(session_cookie(mine)))
    response = mine.post(f"/dashboard/security/sessions/{row.pk}/revoke")
    assert response["Location"] == LOGIN_URL
    assert not _is_signed_in(mine)


def test_revoking_another_users_session_is_not_found(user: User, other_user: User) -> None:
    mine = _signed_in(user)
    theirs = _signed_in(other_user)
    row = DashboardSession.objects.get(key_hash=session_key_hash(session_cookie(theirs)))
    assert mine.post(f"/dashboard/security/sessions/{row.pk}/revoke").status_code == 404
    assert _is_signed_in(theirs)


def test_session_revoke_is_csrf_protected(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    row = DashboardSession.objects.get(user=user)
    assert client.post(f"/dashboard/security/sessions/{row.pk}/revoke").status_code == 403
    assert DashboardSession.objects.filter(pk=row.pk).exists()


def test_session_cookie_flags_outside_debug(client: Client, user: User) -> None:
    response = client.post(LOGIN_URL, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert settings.SESSION_COOKIE_NAME == "__Host-sessionid"
    cookie = response.cookies["__Host-sessionid"]
    assert cookie["httponly"] is True
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/" and not cookie["domain"]  # what __Host- requires


def test_csrf_cookie_flags_outside_debug(client: Client) -> None:
    response = client.get(LOGIN_URL)
    cookie = response.cookies["__Host-csrftoken"]
    assert cookie["secure"] is True
    assert cookie["samesite"] == "Lax"
    assert cookie["path"] == "/" and not cookie["domain"]


def _settings_in_subprocess(module: str, **env: str) -> dict[str, Any]:
    code = (
        "import django, json; from django.conf import settings as s; django.setup(); "
        "print(json.dumps({k: getattr(s, k) for k in ('SESSION_COOKIE_NAME', "
        "'CSRF_COOKIE_NAME', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', "
        "'SESSION_COOKIE_HTTPONLY', 'SESSION_COOKIE_SAMESITE', 'SESSION_ENGINE')}))"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    environ.update(DJANGO_SETTINGS_MODULE=module, **env)
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=environ, capture_output=True, text=True, check=True
    )
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def test_production_settings_use_host_prefixed_secure_cookies() -> None:
    values = _settings_in_subprocess(
        "micro_platform.settings.production", DJANGO_SECRET_KEY="x" * 50
    )
    assert values["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert values["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
    assert values["SESSION_COOKIE_SECURE"] is values["CSRF_COOKIE_SECURE"] is True
    assert values["SESSION_COOKIE_HTTPONLY"] is True
    assert values["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert values["SESSION_ENGINE"] == "authn.sessions.store"


def test_debug_settings_use_plain_cookie_names() -> None:
    values = _settings_in_subprocess("micro_platform.settings.dev", DJANGO_DEBUG="true")
    assert values["SESSION_COOKIE_NAME"] == "sessionid"
    assert values["CSRF_COOKIE_NAME"] == "csrftoken"
    assert values["SESSION_COOKIE_SECURE"] is False
    assert values["SESSION_COOKIE_HTTPONLY"] is True


@pytest.mark.parametrize("url", [LOGIN_URL, PROFILE_URL])
def test_security_headers_on_dashboard_pages(client: Client, user: User, url: str) -> None:
    client.force_login(user)
    response = client.get(url)
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]


def test_dashboard_templates_contain_no_inline_script(client: Client, user: User) -> None:
    client.force_login(user)
    for url in (LOGIN_URL, PROFILE_URL, "/dashboard/api-keys/", SECURITY_URL):
        body = client.get(url).content.decode()
        assert "<script>" not in body and "onclick=" not in body


def _api_principal(client: Client) -> Any:
    request = APIRequestFactory().get("/api/v1/me")
    request.COOKIES[settings.SESSION_COOKIE_NAME] = session_cookie(client)
    request.session = SessionStore(session_cookie(client))  # type: ignore[attr-defined]
    request.user = get_user(request)  # type: ignore[arg-type]
    drf_request = Request(request)
    drf_request._request = request
    result = SessionPrincipalAuthentication().authenticate(drf_request)
    assert result is not None
    return result[0]


def test_api_session_principal_carries_password_amr(user: User) -> None:
    client = _signed_in(user)
    principal = _api_principal(client)
    assert principal.amr == ("pwd",)
    assert principal.method == "session"
    assert abs(principal.auth_time - time.time()) < 60


def test_api_session_principal_carries_otp_amr_after_the_otp_step(user: User) -> None:
    enrol_totp(user)
    client = _signed_in(user)
    principal = _api_principal(client)
    assert principal.amr == ("pwd", "otp")
    assert abs(principal.auth_time - time.time()) < 60


def test_session_ended_during_its_own_request_is_not_recreated(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    client.get(PROFILE_URL)
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    store = SessionStore(session_cookie(client))
    store[LAST_SEEN_KEY] = 0  # this request will want to refresh `last seen`
    store.save()
    response = client.post(
        "/api/v1/auth/logout-all", content_type="application/json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 204
    assert not DashboardSession.objects.filter(user=user).exists()
    assert not _is_signed_in(client)


def test_cleanup_expired_deletes_expired_dashboard_sessions(user: User) -> None:
    live = _signed_in(user)
    _signed_in(user)
    expired = DashboardSession.objects.exclude(
        key_hash=session_key_hash(session_cookie(live))
    ).get()
    DashboardSession.objects.filter(pk=expired.pk).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    out = StringIO()
    call_command("cleanup_expired", stdout=out)
    assert "dashboard sessions: 1 deleted" in out.getvalue()
    assert list(DashboardSession.objects.values_list("user_id", flat=True)) == [user.pk]
    assert _is_signed_in(live)


def test_password_change_through_the_api_ends_dashboard_sessions(
    user: User, user_client: Any
) -> None:
    dashboard = _signed_in(user)
    response = user_client.post(
        "/api/v1/me/password",
        {"old_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 204
    assert not _is_signed_in(dashboard)
    assert not DashboardSession.objects.filter(user=user).exists()


def test_the_store_names_the_row_of_its_current_key_after_create_cycle_and_delete(db) -> None:
    """Gateway tokens minted from a session carry its row id as `sid`: after a sign-in's
    cycle_key it must be the new row's, and nothing once the session is deleted."""
    from authn.models import DashboardSession
    from authn.sessions.store import SessionStore, session_key_hash

    store = SessionStore()
    store.create()
    assert store.session_key is not None
    first = DashboardSession.objects.get(key_hash=session_key_hash(store.session_key))
    assert store.dashboard_session_id == first.pk

    store.cycle_key()

    assert store.session_key is not None
    second = DashboardSession.objects.get(key_hash=session_key_hash(store.session_key))
    assert second.pk != first.pk and store.dashboard_session_id == second.pk
    store.delete()
    assert store.dashboard_session_id is None
