"""The landing page in a real Chromium: renders under the CSP and leads to the sign-in."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.live


def test_the_landing_page_leads_to_the_dashboard(page: Any, live_server: Any) -> None:
    user = UserFactory.create()
    page.goto(f"{live_server.url}/")
    assert page.locator("h1").inner_text() == "Micro User Service"
    page.click("text=Sign in")
    page.wait_for_url(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/dashboard/")
    page.goto(f"{live_server.url}/")
    page.click("text=Open your dashboard")
    page.wait_for_url(f"{live_server.url}/dashboard/")
