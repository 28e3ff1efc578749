"""OAuth tokens issued from a federated session (the consent and device pages) carry its
`amr` (with `fed`) and an `idp` claim, through refreshes; other tokens do not change."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from oauth2_provider.models import get_refresh_token_model

from authn.models import IdentityProvider, OAuthSignIn
from authn.oauth.sign_ins import code_key
from authn.tokens.authentication import principal_from_claims
from tests.authn.federation.conftest import sign_in
from tests.authn.federation.fake_provider import FakeProvider
from tests.authn.oauth_helpers import (
    DEVICE_GRANT,
    TOKEN_URL,
    claims,
    code_flow_tokens,
    device_decision,
    make_client,
    refresh,
)
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

CLI = "micro-cli"


def _device_start() -> dict[str, Any]:
    response = Client().post(
        "/o/device-authorization/",
        urlencode({"client_id": CLI, "scope": "openid profile"}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    return response.json()


def _device_approve(browser: Client, user_code: str) -> Any:
    entered = browser.post("/o/device/", {"user_code": user_code})
    assert entered.status_code == 302, entered.content
    confirm_url = entered["Location"]
    return browser.post(confirm_url, device_decision(browser, confirm_url))


def _federated_browser(upstream: FakeProvider) -> Client:
    browser = Client()
    upstream.claims["amr"] = ["pwd", "hwk"]
    assert sign_in(browser, upstream).status_code == 302
    return browser


def test_consent_page_token_carries_fed_amr_and_idp_through_refresh(
    upstream: FakeProvider, idp: IdentityProvider
) -> None:
    browser = _federated_browser(upstream)
    client = make_client()
    tokens = code_flow_tokens(browser, client)
    access = claims(tokens["access_token"])
    assert access["amr"] == ["fed", "pwd", "hwk"]
    assert access["idp"] == "acme"
    id_token = claims(tokens["id_token"])
    assert (id_token["amr"], id_token["idp"]) == (["fed", "pwd", "hwk"], "acme")
    principal = principal_from_claims(access)
    assert (principal.amr, principal.idp) == (("fed", "pwd", "hwk"), "acme")
    # The exchanged code's record is gone; the token family's stays for the refreshes.
    assert [row.key.split(":")[0] for row in OAuthSignIn.objects.all()] == ["family"]
    refreshed = refresh(Client(), client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    again = claims(refreshed.json()["access_token"])
    assert again["amr"] == ["fed", "pwd", "hwk"] and again["idp"] == "acme"
    # A refresh of the refreshed token too.
    third = refresh(Client(), client, refreshed.json()["refresh_token"])
    assert claims(third.json()["access_token"])["idp"] == "acme"


def test_password_session_token_is_unchanged(db: None) -> None:
    user = UserFactory.create()
    browser = Client()
    browser.post("/accounts/login/", {"username": user.username, "password": DEFAULT_PASSWORD})
    client = make_client()
    tokens = code_flow_tokens(browser, client)
    access = claims(tokens["access_token"])
    assert access["amr"] == ["pwd"]
    assert "idp" not in access
    refreshed = claims(refresh(Client(), client, tokens["refresh_token"]).json()["access_token"])
    assert refreshed["amr"] == ["pwd"] and "idp" not in refreshed


def test_device_page_token_carries_fed_amr_and_idp(
    upstream: FakeProvider, idp: IdentityProvider
) -> None:
    browser = _federated_browser(upstream)
    started = _device_start()
    assert _device_approve(browser, started["user_code"]).status_code == 302
    response = Client().post(
        TOKEN_URL,
        {"grant_type": DEVICE_GRANT, "device_code": started["device_code"], "client_id": CLI},
    )
    assert response.status_code == 200, response.content
    access = claims(response.json()["access_token"])
    assert access["amr"] == ["fed", "pwd", "hwk"]
    assert access["idp"] == "acme"
    assert not OAuthSignIn.objects.filter(key__startswith="device:").exists()


def test_cleanup_keeps_a_live_familys_record_and_sweeps_the_unusable_ones(
    upstream: FakeProvider, idp: IdentityProvider
) -> None:
    browser = _federated_browser(upstream)
    code_flow_tokens(browser, make_client())
    family = OAuthSignIn.objects.get()
    # A code approved but never exchanged, a day old: no token can ever read its record.
    OAuthSignIn.objects.create(key=code_key("never-exchanged"), amr=["fed"], idp="acme")
    OAuthSignIn.objects.update(created_at=timezone.now() - timedelta(days=2))
    out = StringIO()

    call_command("cleanup_expired", stdout=out)

    assert "OAuth sign-in records: 1 deleted" in out.getvalue()
    assert list(OAuthSignIn.objects.values_list("key", flat=True)) == [family.key]
    # Once the family's refresh tokens are gone (revoked and swept, or expired), so is it.
    assert get_refresh_token_model().objects.filter(token_family__isnull=False).exists()
    get_refresh_token_model().objects.all().delete()
    call_command("cleanup_expired", stdout=StringIO())
    assert not OAuthSignIn.objects.exists()


def test_cleanup_keeps_a_fresh_record_of_a_code_not_yet_exchanged(db: None) -> None:
    OAuthSignIn.objects.create(key=code_key("just-approved"), amr=["fed"], idp="acme")

    call_command("cleanup_expired", stdout=StringIO())

    assert OAuthSignIn.objects.exists()
