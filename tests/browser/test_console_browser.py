"""The admin console in a real Chromium: an administrator registers a service and its scope,
bundles it in a role, gives the role to a group and adds a user to it; that user's next token
carries the scope. Also at phone width, and without a CSP error (the page fixture checks)."""

from __future__ import annotations

import os
from typing import Any

import jwt
import pytest
import requests

from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory

pytestmark = pytest.mark.live

# Set to a directory (e.g. docs/screenshots) to keep a screenshot of the console's role page.
SCREENSHOT_DIR = os.environ.get("MICRO_SCREENSHOT_DIR")


def _sign_in(page: Any, base_url: str, user: User) -> None:
    page.goto(f"{base_url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base_url}/dashboard/")


def _token_scopes(base_url: str, user: User) -> set[str]:
    response = requests.post(
        f"{base_url}/api/v1/auth/token",
        json={"username": user.username, "password": DEFAULT_PASSWORD},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    claims = jwt.decode(response.json()["access_token"], options={"verify_signature": False})
    return set(str(claims["scope"]).split())


def test_an_admin_gives_a_new_services_scope_to_a_user_through_a_role_and_a_group(
    page: Any, live_server: Any
) -> None:
    base = live_server.url
    admin = AdminFactory.create(username="root-admin")
    ines = UserFactory.create(username="ines")
    assert "billing:read" not in _token_scopes(base, ines)
    _sign_in(page, base, admin)

    page.click("text=Admin console")
    page.click("nav.console-nav >> text=Services")
    page.fill("input[name=name]", "billing")
    page.fill("input[name=description]", "Invoices and payments")
    page.click("text=Register service")
    page.wait_for_url(f"{base}/dashboard/admin/services/*/")
    page.fill("input[name=name]", "billing:read")
    page.fill("input[name=description]", "Read invoices")
    page.click("text=Add scope")
    page.wait_for_selector("text=Scope “billing:read” added.")

    page.click("nav.console-nav >> text=Roles")
    page.fill("input[name=name]", "billing-clerk")
    page.check("input[name=scopes][value='billing:read']")
    page.click("text=Create role")
    page.wait_for_selector("text=Role “billing-clerk” created.")
    if SCREENSHOT_DIR:
        page.screenshot(path=os.path.join(SCREENSHOT_DIR, "console.png"), full_page=True)

    page.click("nav.console-nav >> text=Groups")
    page.fill("input[name=name]", "accounting")
    page.click("text=Create group")
    page.wait_for_selector("text=Group “accounting” created.")
    page.select_option("select[name=role]", label="billing-clerk")
    page.click("text=Give role")
    page.wait_for_selector("text=“accounting” has the role “billing-clerk”.")
    page.fill("input[name=username]", "ines")
    page.click("text=Add member")
    page.wait_for_selector("text=ines is in “accounting”.")

    assert "billing:read" in _token_scopes(base, ines)


def test_the_console_works_at_phone_width_and_confirms_before_deleting(
    page: Any, live_server: Any
) -> None:
    base = live_server.url
    page.set_viewport_size({"width": 375, "height": 800})
    _sign_in(page, base, AdminFactory.create())
    page.goto(f"{base}/dashboard/admin/roles/")
    page.fill("input[name=name]", "reader")
    page.check("input[name=scopes][value='users:read']")
    page.click("text=Create role")
    page.wait_for_selector("text=Role “reader” created.")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, width
    page.click("text=Delete role")
    page.wait_for_selector("text=Delete role “reader”?")
    page.click("button:has-text('Delete role')")
    page.wait_for_selector("text=Role “reader” deleted.")
