"""Dashboard pages in a real Chromium: layout at desktop width, focus on load, confirm steps."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import User
from tests.authn.dashboard_helpers import enrol_totp, totp_code
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.live

FOCUSED_FIELD = "document.activeElement && document.activeElement.name || ''"


def _sign_in(page: Any, base_url: str, user: User, *, otp_device: Any = None) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    if otp_device is not None:
        page.wait_for_url(f"{base_url}/accounts/login/otp/")
        page.fill("input[name=otp_token]", totp_code(otp_device, offset_seconds=30))
        page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard/")


def test_security_page_focuses_no_code_field_on_load(page: Any, live_server: Any) -> None:
    user = UserFactory.create()
    _sign_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/dashboard/security/")
    page.click("text=Set up an authenticator app")
    page.wait_for_selector("img.qr")
    assert page.evaluate(FOCUSED_FIELD) == ""  # the QR code stays in view on a phone

    enrolled = UserFactory.create()
    device, _ = enrol_totp(enrolled)
    page.context.clear_cookies()
    _sign_in(page, live_server.url, enrolled, otp_device=device)
    page.goto(f"{live_server.url}/dashboard/security/")
    assert page.locator("input[name=otp_token]").count() == 2
    assert page.evaluate(FOCUSED_FIELD) == ""


def test_the_sign_in_code_page_still_focuses_its_field(page: Any, live_server: Any) -> None:
    user = UserFactory.create()
    enrol_totp(user)
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/accounts/login/otp/")
    assert page.evaluate(FOCUSED_FIELD) == "otp_token"
