"""Browser fixtures: Debian's Chromium driven by Playwright against pytest-django's live server.

Playwright's sync API runs an asyncio event loop in the test's thread, so Django's
async-safety check would refuse the ORM calls the tests make to set up data and look at the
result (SynchronousOnlyOperation). Nothing else runs on that loop while the ORM is used, so
DJANGO_ALLOW_ASYNC_UNSAFE is set for these tests only.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

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


# django-otp-webauthn's script logs this when the pending autofill (conditional UI) request is
# aborted, which it is whenever the passkey button starts a ceremony of its own.
PASSKEY_AUTOFILL_ABORTED = "Got error during the webauthn credential autofill call"


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    """A page that fails its test on a console error (a CSP violation shows up there), except
    those a test expects: `page.allow_console_errors(*prefixes)`."""
    page = browser_context.new_page()
    errors: list[str] = []
    allowed = [PASSKEY_AUTOFILL_ABORTED]
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.console_errors = errors
    page.allow_console_errors = lambda *prefixes: allowed.extend(prefixes)
    yield page
    unexpected = [error for error in errors if not error.startswith(tuple(allowed))]
    assert not unexpected, unexpected


@pytest.fixture
def passkeys(settings: Any, live_server: Any) -> str:
    """Passkeys on, for the live server's origin; answers that origin.

    An IP address cannot be a WebAuthn RP ID, so the pages must be opened at
    http://localhost:PORT (pytest-django's live server listens there; Chromium treats localhost
    as a secure context, as WebAuthn and the __Host- cookies need).
    """
    origin = live_server.url
    assert urlsplit(origin).hostname == "localhost", origin
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [origin]
    settings.MICRO_PASSKEYS_ENABLED = True
    return origin


@pytest.fixture
def cdp(page: Any) -> Any:
    """A DevTools session on `page` with WebAuthn's virtual authenticators enabled (no
    browser dialogs: the authenticator answers by itself)."""
    session = page.context.new_cdp_session(page)
    session.send("WebAuthn.enable", {"enableUI": False})
    return session


@pytest.fixture
def add_authenticator(cdp: Any) -> Callable[..., str]:
    """Adds a virtual authenticator to the page; answers its id. The default is a platform
    authenticator (ctap2, internal) keeping discoverable credentials and verifying its user,
    with presence simulated; keyword arguments override those options."""

    def add(**options: Any) -> str:
        defaults = {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": True,
            "defaultBackupEligibility": False,
            "defaultBackupState": False,
        }
        answer = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": defaults | options})
        return str(answer["authenticatorId"])

    return add
