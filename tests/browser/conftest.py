"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright's sync API runs an asyncio event loop in the test's thread, so Django's
async-safety check would refuse the ORM calls the tests make to set up data and look at the
result (SynchronousOnlyOperation). Nothing else runs on that loop while the ORM is used, so
DJANGO_ALLOW_ASYNC_UNSAFE is set for these tests only.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import connections

from tests.conftest import require_component

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def browser_available() -> bool:
    return os.path.exists(CHROMIUM) and importlib.util.find_spec("playwright") is not None


@pytest.fixture
def browser_context(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, transactional_db: Any
) -> Iterator[Any]:
    """A fresh Chromium profile (own cookies) that may use the clipboard."""
    require_component(browser_available(), "Chromium (/usr/bin/chromium) and Playwright")
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()
            # Left open, a connection used while Playwright's loop ran keeps PostgreSQL from
            # dropping the test database at the end of the run.
            connections.close_all()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A page that records console errors (a CSP violation shows up there)."""
    page = browser_context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    yield page
    assert not errors, errors
