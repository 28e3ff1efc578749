"""Dashboard pages in a real Chromium: layout at desktop width, focus on load, confirm steps."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from oauth2_provider.models import Application

from accounts.models import User
from authn.api_keys.services import api_key_create
from authn.models import DashboardSession
from tests.authn.dashboard_helpers import enrol_totp, totp_code
from tests.authn.oauth_helpers import make_client
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, browser_available
from tests.conftest import require_component
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


def _page_with(**options: Any) -> Any:
    """A fixture: a page of a fresh browser context made with Playwright's `options`."""

    @pytest.fixture
    def fixture(monkeypatch: pytest.MonkeyPatch, transactional_db: Any) -> Iterator[Any]:
        require_component(browser_available(), "Chromium (/usr/bin/chromium) and Playwright")
        from playwright.sync_api import sync_playwright

        monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = chromium.new_context(**options).new_page()
                errors: list[str] = []
                page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
                yield page
                assert not errors, errors
            finally:
                chromium.close()
                # An open connection would keep PostgreSQL from dropping the test database.
                connections.close_all()

    return fixture


DESKTOP = {"width": 1280, "height": 900}
# The server's zone is UTC; this browser lives in New York's.
new_york_page = _page_with(timezone_id="America/New_York", locale="en-US", viewport=DESKTOP)
no_script_page = _page_with(java_script_enabled=False, viewport=DESKTOP)
desktop_page = _page_with(viewport=DESKTOP)


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


def test_revoke_and_delete_ask_first_and_work_without_javascript(
    no_script_page: Any, live_server: Any
) -> None:
    page = no_script_page
    user = UserFactory.create()
    api_key = api_key_create(
        owner=user, name="deploy bot", scopes=["profile"], expires_in_days=30, actor=None
    ).api_key
    application = make_client(name="Shop", owner=user).application
    _sign_in(page, live_server.url, user)

    page.goto(f"{live_server.url}/dashboard/api-keys/")
    page.click("a:has-text('Revoke')")
    page.wait_for_selector("h1:has-text('Revoke API key')")
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    page.click("text=Cancel")
    page.wait_for_url(f"{live_server.url}/dashboard/api-keys/")
    page.click("a:has-text('Revoke')")
    page.click("button:has-text('Revoke key')")
    page.wait_for_selector("text=API key “deploy bot” revoked.")
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None

    page.goto(f"{live_server.url}/dashboard/applications/")
    page.click("a:has-text('Delete')")
    page.wait_for_selector("h1:has-text('Delete application')")
    assert Application.objects.filter(pk=application.pk).exists()
    page.click("button:has-text('Delete application')")
    page.wait_for_selector("text=Application “Shop” deleted")
    assert not Application.objects.filter(pk=application.pk).exists()


TABLES_OVERFLOWING = """() => Array.from(document.querySelectorAll('.card table')).filter(table => {
    const card = table.closest('.card').getBoundingClientRect();
    return table.getBoundingClientRect().right > card.right + 0.5
        || table.scrollWidth > table.clientWidth + 0.5;
}).map(table => table.closest('.card').querySelector('h2').textContent)"""


def test_tables_fit_their_cards_at_desktop_width(desktop_page: Any, live_server: Any) -> None:
    page = desktop_page
    user = UserFactory.create()
    long_uris = " ".join(
        f"https://very-long-application-host-name-{n}.example/oauth/callback/with/a/long/path"
        for n in range(2)
    )
    make_client(name="Inventory and billing dashboard", owner=user, redirect_uris=long_uris)
    for name in ("deploy bot", "a key with a rather long name for the nightly exports"):
        api_key_create(owner=user, name=name, scopes=["profile"], expires_in_days=30, actor=None)
    _sign_in(page, live_server.url, user)
    for path in ("/dashboard/applications/", "/dashboard/api-keys/", "/dashboard/security/"):
        page.goto(f"{live_server.url}{path}")
        assert page.locator(".card table").count() >= 1, path
        assert page.evaluate(TABLES_OVERFLOWING) == [], path
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path


FIELD_LOOK = """selector => {
    const style = getComputedStyle(document.querySelector(selector));
    return [style.borderTopWidth, style.borderTopStyle, style.borderTopLeftRadius,
            style.paddingLeft, style.fontFamily === getComputedStyle(document.body).fontFamily,
            Math.round(document.querySelector(selector).getBoundingClientRect().width)];
}"""


def test_the_select_and_textarea_look_like_the_other_fields(
    desktop_page: Any, live_server: Any
) -> None:
    page = desktop_page
    _sign_in(page, live_server.url, UserFactory.create())
    page.goto(f"{live_server.url}/dashboard/applications/")
    name = page.evaluate(FIELD_LOOK, "#id_name")
    assert page.evaluate(FIELD_LOOK, "#id_client_type") == name
    textarea = page.evaluate(FIELD_LOOK, "#id_redirect_uris")
    assert textarea[:4] == name[:4] and textarea[5] == name[5]  # monospace for URIs


def test_applications_and_confirm_pages_fit_a_phone_screen(page: Any, live_server: Any) -> None:
    user = UserFactory.create(avatar_url="https://img.example/" + "a" * 120 + ".png")
    application = make_client(
        name="Shop", owner=user, redirect_uris="https://shop.example/oauth/callback/long/path"
    ).application
    page.set_viewport_size({"width": 375, "height": 740})
    _sign_in(page, live_server.url, user)
    confirm = f"/dashboard/applications/{application.pk}/delete"
    for path in ("/dashboard/", "/dashboard/applications/", confirm):
        page.goto(f"{live_server.url}{path}")
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert fits, path
