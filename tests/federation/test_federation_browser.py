"""Federated sign-in in a real Chromium (Playwright, tests/browser's fixtures) against
oidc-provider: from the login page's button through the provider's sign-in form and back, and
the link page of an account that already has the upstream's email."""

from __future__ import annotations

from typing import Any

import pytest

from authn.models import ExternalIdentity, IdentityProvider
from tests.browser.conftest import browser_context, page  # noqa: F401 - the fixtures
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.federation.conftest import (
    EMAILS,
    PROVIDER_PASSWORD,
    SUBJECTS,
    UNVERIFIED,
    VERIFIED,
    OidcProvider,
)

pytestmark = pytest.mark.live

SLUG = "op"


@pytest.fixture
def browser_row(oidc_provider: OidcProvider, live_server: Any) -> IdentityProvider:
    row = IdentityProvider(
        slug=SLUG,
        display_name="Test OP",
        issuer=oidc_provider.issuer,
        client_id=oidc_provider.client_id,
        scopes=["openid", "email", "profile"],
        create_accounts=True,
    )
    row.set_client_secret(oidc_provider.client_secret)
    row.save()
    oidc_provider.register_redirect_uri(f"{live_server.url}/accounts/federation/{SLUG}/callback/")
    return row


def _through_the_provider(tab: Any, live_server: Any, username: str) -> None:
    tab.goto(f"{live_server.url}/accounts/login/")
    tab.click("text=Sign in with Test OP")
    tab.wait_for_selector("input[name=login]")
    tab.fill("input[name=login]", username)
    tab.fill("input[name=password]", PROVIDER_PASSWORD)
    tab.click("button:text-is('Sign in')")


def test_sign_in_with_the_provider_from_the_login_page(
    page: Any,  # noqa: F811 - the fixture
    live_server: Any,
    browser_row: IdentityProvider,
) -> None:
    _through_the_provider(page, live_server, VERIFIED)

    page.wait_for_url(f"{live_server.url}/dashboard/")
    assert page.locator("h1").inner_text() == "Profile"
    identity = ExternalIdentity.objects.select_related("user").get(provider=browser_row)
    assert identity.subject == SUBJECTS[VERIFIED]
    assert identity.user.email == EMAILS[VERIFIED]


def test_link_an_existing_account_after_signing_in_to_it(
    page: Any,  # noqa: F811 - the fixture
    live_server: Any,
    browser_row: IdentityProvider,
) -> None:
    owner = UserFactory.create(email=EMAILS[UNVERIFIED])
    _through_the_provider(page, live_server, UNVERIFIED)

    page.wait_for_url(f"{live_server.url}/accounts/login/?next=/accounts/federation/link/")
    assert "Sign in to your account first" in page.content()
    page.fill("input[name=username]", owner.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/accounts/federation/link/")
    assert not ExternalIdentity.objects.exists()
    page.click("button:text('Link')")

    page.wait_for_url(f"{live_server.url}/dashboard/security/")
    identity = ExternalIdentity.objects.get(provider=browser_row)
    assert (identity.user, identity.subject) == (owner, SUBJECTS[UNVERIFIED])
