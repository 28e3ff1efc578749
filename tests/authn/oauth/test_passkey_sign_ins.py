"""OAuth tokens issued from a passkey session (the consent and device pages) say how the person
signed in (`hwk`/`swk`), through refreshes, never a `pwd` that was not typed; and the `micro`
CLI's token of such a sign-in is the person's own."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from accounts.models import User
from authn.models import OAuthSignIn
from authn.sessions.proof import session_mark_signed_in
from authn.tokens.authentication import principal_from_claims
from tests.authn.dashboard_helpers import sign_in
from tests.authn.oauth_helpers import (
    DEVICE_GRANT,
    TOKEN_URL,
    claims,
    code_flow_tokens,
    device_decision,
    ensure_cli_client,
    make_client,
    refresh,
)

pytestmark = pytest.mark.django_db


def _passkey_browser(user: User, amr: tuple[str, ...]) -> Client:
    """A dashboard session whose sign-in was a passkey one (as the passkey views record it)."""
    browser = Client()
    sign_in(browser, user)
    session = browser.session
    session_mark_signed_in(session, amr=amr)
    session.save()
    return browser


def test_consent_page_tokens_of_a_passwordless_sign_in_say_hwk_through_refresh(user: User):
    browser = _passkey_browser(user, ("hwk", "user"))
    client = make_client()
    tokens = code_flow_tokens(browser, client)
    access = claims(tokens["access_token"])
    assert access["amr"] == ["hwk", "user"]
    assert "idp" not in access
    id_token = claims(tokens["id_token"])
    assert id_token["amr"] == ["hwk", "user"] and "idp" not in id_token
    refreshed = refresh(Client(), client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert claims(refreshed.json()["access_token"])["amr"] == ["hwk", "user"]
    assert OAuthSignIn.objects.get().idp == ""


def test_a_password_then_passkey_sign_in_is_carried_whole(user: User):
    browser = _passkey_browser(user, ("pwd", "swk", "user", "mfa"))
    access = claims(code_flow_tokens(browser, make_client())["access_token"])
    assert access["amr"] == ["pwd", "swk", "user", "mfa"]


def test_the_cli_token_of_a_passkey_sign_in_is_personal(user: User):
    ensure_cli_client()
    browser = _passkey_browser(user, ("swk", "user"))
    started = _device_start()
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    assert entered.status_code == 302, entered.content
    confirm_url = entered["Location"]
    decided = browser.post(confirm_url, device_decision(browser, confirm_url))
    assert decided.status_code == 302, decided.content
    response = Client().post(
        TOKEN_URL,
        {
            "grant_type": DEVICE_GRANT,
            "device_code": started["device_code"],
            "client_id": "micro-cli",
        },
    )
    assert response.status_code == 200, response.content
    access = claims(response.json()["access_token"])
    assert access["amr"] == ["swk", "user"]
    assert principal_from_claims(access).is_personal_sign_in


def _device_start() -> dict[str, Any]:
    response = Client().post(
        "/o/device-authorization/",
        urlencode({"client_id": "micro-cli", "scope": "openid profile"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    return response.json()
