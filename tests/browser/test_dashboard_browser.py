"""The dashboard flows in a real Chromium: sign-in with and without TOTP, API keys, enrolment."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from django_otp.oath import TOTP

from accounts.models import User
from authn.mfa.services import user_has_mfa
from authn.models import ApiKey
from tests.authn.dashboard_helpers import enrol_totp, totp_code
from tests.authn.oauth_helpers import (
    REDIRECT_URI,
    authorize_params,
    ensure_cli_client,
    make_client,
    pkce_pair,
)
from tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory

pytestmark = pytest.mark.live

# Set to a directory (e.g. docs/screenshots) to keep a screenshot of the API-keys page.
SCREENSHOT_DIR = os.environ.get("MICRO_SCREENSHOT_DIR")


def _password_step(page: Any, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")


def _signed_in_page(page: Any, base_url: str, user: User) -> None:
    _password_step(page, base_url, user)
    page.wait_for_url(f"{base_url}/dashboard/")


def test_login_without_totp(page: Any, live_server: Any) -> None:
    user = UserFactory.create(display_name="Browser User")
    _signed_in_page(page, live_server.url, user)
    assert page.locator("h1").inner_text() == "Profile"
    assert user.username in page.content()
    cookies = {cookie["name"]: cookie for cookie in page.context.cookies()}
    session = cookies["__Host-sessionid"]
    assert session["httpOnly"] is True and session["secure"] is True
    assert session["sameSite"] == "Lax"


def test_login_with_totp(page: Any, live_server: Any) -> None:
    user = UserFactory.create()
    device, _ = enrol_totp(user)
    _password_step(page, live_server.url, user)
    page.wait_for_url(f"{live_server.url}/accounts/login/otp/")
    page.goto(f"{live_server.url}/dashboard/")  # not signed in until the code passes
    assert "/accounts/login/" in page.url
    _password_step(page, live_server.url, user)
    page.wait_for_url(f"{live_server.url}/accounts/login/otp/")
    page.fill("input[name=otp_token]", totp_code(device, offset_seconds=30))
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert page.locator("h1").inner_text() == "Profile"


def test_mint_use_and_revoke_an_api_key(page: Any, live_server: Any) -> None:
    user = UserFactory.create()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    _signed_in_page(page, live_server.url, user)
    page.click("text=API keys")
    page.fill("input[name=name]", "deploy bot")
    page.check("input[name=scopes][value=profile]")
    page.fill("input[name=expires_in_days]", "30")
    page.click("text=Mint key")
    key = page.input_value("#new-key")
    assert key.startswith("mk_")

    page.click("[data-copy-target=new-key]")
    page.wait_for_selector("text=Copied")
    assert page.evaluate("navigator.clipboard.readText()") == key

    me = requests.get(f"{live_server.url}/api/v1/me", headers={"X-API-Key": key}, timeout=10)
    assert me.status_code == 200, me.text
    assert me.json()["user"]["username"] == user.username
    assert me.json()["auth_method"] == "api_key"

    page.goto(f"{live_server.url}/dashboard/api-keys/")
    assert key not in page.content()  # shown once only
    assert "deploy bot" in page.content()
    if SCREENSHOT_DIR:
        Path(SCREENSHOT_DIR).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOT_DIR) / "dashboard.png"), full_page=True)
    page.click("a:has-text('Revoke')")  # a confirm page first
    page.click("button:has-text('Revoke key')")
    page.wait_for_selector("text=revoked")
    assert ApiKey.objects.get(owner=user).revoked_at is not None

    headers = {"Authorization": f"Bearer {key}"}
    me = requests.get(f"{live_server.url}/api/v1/me", headers=headers, timeout=10)
    assert me.status_code == 401


def test_enrol_totp_through_the_security_page(page: Any, live_server: Any) -> None:
    user = UserFactory.create()
    _signed_in_page(page, live_server.url, user)
    page.click("text=Security")
    page.click("text=Set up an authenticator app")
    page.wait_for_load_state("load")
    assert page.locator("img.qr").evaluate("img => img.complete && img.naturalWidth > 0")
    secret = page.inner_text("#totp-secret")
    totp = TOTP(base64.b32decode(secret))
    page.fill("input[name=otp_token]", f"{totp.token():06d}")
    page.click("button:has-text('Confirm')")
    page.wait_for_selector("#backup-codes")
    assert page.locator("#backup-codes li").count() == 10
    assert user_has_mfa(user=user)


def test_pages_fit_a_phone_screen(page: Any, live_server: Any) -> None:
    user = UserFactory.create()
    page.set_viewport_size({"width": 375, "height": 740})
    _signed_in_page(page, live_server.url, user)
    for path in ("/dashboard/", "/dashboard/api-keys/", "/dashboard/security/"):
        page.goto(f"{live_server.url}{path}")
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, path


def test_api_docs_render_under_the_content_security_policy(page: Any, live_server: Any) -> None:
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector("text=Micro User Service API")
    assert page.locator(".opblock").count() > 10


def test_admin_after_dashboard_sign_in_renders_under_the_csp(page: Any, live_server: Any) -> None:
    admin = AdminFactory.create()
    _signed_in_page(page, live_server.url, admin)
    page.goto(f"{live_server.url}/admin/accounts/user/")
    page.wait_for_selector("#result_list")
    assert admin.username in page.inner_text("#result_list")


def test_oauth_consent_and_device_approval(page: Any, live_server: Any) -> None:
    """Sign-in through the authorize step, consent, and the redirect to the client (the CSP
    must let the consent form's redirect leave the site); then approve a device code."""
    ensure_cli_client()
    user = UserFactory.create()
    client = make_client(name="Browser app")
    _, challenge = pkce_pair()
    captured: list[str] = []

    def client_callback(route: Any) -> None:
        captured.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>client</p>")

    page.route(f"{REDIRECT_URI}**", client_callback)
    page.goto(f"{live_server.url}/o/authorize/?{urlencode(authorize_params(client, challenge))}")
    page.wait_for_url("**/accounts/login/**")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/o/authorize/**")
    assert "Browser app" in page.locator("h1").inner_text()
    page.click("button[name=allow]")
    page.wait_for_url(f"{REDIRECT_URI}**")

    query = parse_qs(urlsplit(captured[0]).query)
    assert query["code"] and query["state"] == ["st-123"]

    started = requests.post(
        f"{live_server.url}/o/device-authorization/",
        data={"client_id": "micro-cli", "scope": "profile"},
        timeout=10,
    ).json()
    page.goto(f"{live_server.url}/o/device/")
    page.fill("input[name=user_code]", started["user_code"])
    page.click("main button[type=submit]")
    page.click("button[value=accept]")
    page.wait_for_url("**/o/device-grant-status/**")
    assert "Device connected" in page.content()
