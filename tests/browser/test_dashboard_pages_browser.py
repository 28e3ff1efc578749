"""Dashboard pages in a real Chromium: layout at desktop width, focus on load, confirm steps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections

from accounts.models import User
from authn.models import DashboardSession
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, browser_available
from tests.conftest import require_component
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


@pytest.fixture
def new_york_page(monkeypatch: pytest.MonkeyPatch, transactional_db: Any) -> Iterator[Any]:
    """A page whose browser lives in New York's time zone (the server's is UTC)."""
    require_component(browser_available(), "Chromium (/usr/bin/chromium) and Playwright")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = chromium.new_context(
                timezone_id="America/New_York",
                locale="en-US",
                viewport={"width": 1280, "height": 900},
            )
            page = context.new_page()
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            yield page
            assert not errors, errors
        finally:
            chromium.close()
            connections.close_all()


def test_session_times_show_in_the_browsers_zone_and_browsers_by_name(
    new_york_page: Any, live_server: Any
) -> None:
    page = new_york_page
    user = UserFactory.create()
    _sign_in(page, live_server.url, user)
    page.goto(f"{live_server.url}/dashboard/security/")
    started = page.locator("#sessions time").first
    text, title = started.inner_text(), started.get_attribute("title")
    assert title.endswith(" UTC")  # the server's rendering, kept as the tooltip
    assert text.endswith(("EST", "EDT")), text
    session = DashboardSession.objects.get(user=user)
    assert session.user_agent and session.user_agent not in page.inner_text("#sessions")
    assert " on Linux" in page.inner_text("#sessions")
