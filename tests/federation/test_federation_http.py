"""Federated sign-in against a certified OpenID provider (npm oidc-provider), over plain HTTP:
Django's test client for this service, requests for the provider's sign-in page."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from authn.federation import client as federation_client
from authn.models import ExternalIdentity, IdentityProvider
from authn.sessions.proof import AMR_KEY, IDP_KEY
from tests.factories import DEFAULT_PASSWORD, UserFactory
from tests.federation.conftest import (
    EMAILS,
    LOCAL_HOST,
    MFA,
    SUBJECTS,
    UNVERIFIED,
    VERIFIED,
    OidcProvider,
    local_client,
    provider_sign_in,
    running_provider,
    signed_in_user,
)

SLUG = "op"
LINK_URL = "/accounts/federation/link/"


def provider_row(provider: OidcProvider, **options: Any) -> IdentityProvider:
    """The provider's row here, its callback registered there."""
    row = IdentityProvider(
        slug=SLUG,
        display_name="Test OP",
        issuer=provider.issuer,
        client_id=provider.client_id,
        scopes=["openid", "email", "profile", "groups"],
        create_accounts=True,
        **options,
    )
    row.set_client_secret(provider.client_secret)
    row.save()
    provider.register_redirect_uri(f"http://{LOCAL_HOST}/accounts/federation/{SLUG}/callback/")
    return row


@pytest.fixture
def row(oidc_provider: OidcProvider, db: Any) -> IdentityProvider:
    return provider_row(oidc_provider)


def start(client: Client, next_url: str = "") -> str:
    """Starts a federated sign-in here; returns the provider's authorize URL."""
    query = f"?{urlencode({'next': next_url})}" if next_url else ""
    response = client.get(f"/accounts/federation/{SLUG}/start/{query}")
    assert response.status_code == 302, response.content
    return str(response["Location"])


def callback(client: Client, callback_url: str, accept: str = "text/html") -> Any:
    parts = urlsplit(callback_url)
    return client.get(f"{parts.path}?{parts.query}", headers={"Accept": accept})


def federated_sign_in(client: Client, username: str, next_url: str = "") -> Any:
    """The whole flow: start here, sign in at the provider, back to the callback here."""
    return callback(client, provider_sign_in(start(client, next_url), username))


def refusals(reason: str) -> int:
    return AuditEvent.objects.filter(
        type="federation.refused", data__idp=SLUG, data__reason=reason
    ).count()


def test_a_first_sign_in_creates_the_account_and_the_next_signs_in_to_it(
    row: IdentityProvider,
) -> None:
    first = local_client()

    response = federated_sign_in(first, VERIFIED, next_url="/dashboard/security/")

    assert response.status_code == 302
    assert response["Location"] == "/dashboard/security/"
    user = signed_in_user(first)
    assert user is not None
    assert (user.username, user.email, user.email_verified) == (
        VERIFIED,
        EMAILS[VERIFIED],
        True,
    )
    assert not user.has_usable_password()
    identity = ExternalIdentity.objects.get(provider=row, user=user)
    assert identity.subject == SUBJECTS[VERIFIED]

    second = local_client()
    response = federated_sign_in(second, VERIFIED)

    assert response.status_code == 302
    assert signed_in_user(second) == user
    assert User.objects.filter(email=EMAILS[VERIFIED]).count() == 1
    identity.refresh_from_db()
    assert identity.last_used_at is not None


def test_the_session_records_fed_the_upstream_amr_and_the_provider(row: IdentityProvider) -> None:
    client = local_client()

    federated_sign_in(client, MFA)

    assert client.session[AMR_KEY] == ["fed", "pwd", "mfa"]
    assert client.session[IDP_KEY] == SLUG
    assert AuditEvent.objects.filter(type="login.succeeded", data__idp=SLUG).exists()


def test_an_unverified_email_of_an_account_here_links_only_after_signing_in_to_it(
    row: IdentityProvider,
) -> None:
    owner = UserFactory.create(email=EMAILS[UNVERIFIED])
    client = local_client()

    response = federated_sign_in(client, UNVERIFIED)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={LINK_URL}"
    assert signed_in_user(client) is None
    assert not ExternalIdentity.objects.exists()

    response = client.post(
        "/accounts/login/",
        {"username": owner.username, "password": DEFAULT_PASSWORD, "next": LINK_URL},
    )
    assert response.status_code == 302
    assert response["Location"] == LINK_URL
    page = client.get(LINK_URL)
    assert page.status_code == 200
    assert EMAILS[UNVERIFIED] in page.content.decode()
    assert not ExternalIdentity.objects.exists()  # only the confirmation links

    response = client.post(LINK_URL)

    assert response.status_code == 302
    identity = ExternalIdentity.objects.get(provider=row)
    assert (identity.user, identity.subject) == (owner, SUBJECTS[UNVERIFIED])
    other_browser = local_client()
    federated_sign_in(other_browser, UNVERIFIED)
    assert signed_in_user(other_browser) == owner


def test_an_account_with_that_email_is_not_signed_in_without_its_password(
    row: IdentityProvider,
) -> None:
    UserFactory.create(email=EMAILS[VERIFIED])  # verified upstream, but the row may not link
    client = local_client()

    federated_sign_in(client, VERIFIED)
    page = client.get(LINK_URL)

    assert page.status_code == 302
    assert page["Location"] == f"/accounts/login/?next={LINK_URL}"
    assert client.post(LINK_URL).status_code == 302
    assert signed_in_user(client) is None
    assert not ExternalIdentity.objects.exists()


def _with_state(url: str, state: str) -> str:
    parts = urlsplit(url)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, "state": state})))


def test_a_mismatched_state_is_refused(row: IdentityProvider) -> None:
    client = local_client()
    back = provider_sign_in(start(client), VERIFIED)

    response = callback(client, _with_state(back, "not-the-state"))

    assert response.status_code == 400
    assert signed_in_user(client) is None
    assert not User.objects.filter(email=EMAILS[VERIFIED]).exists()
    assert refusals("state_mismatch") == 1


def test_a_replayed_callback_is_refused(row: IdentityProvider) -> None:
    client = local_client()
    back = provider_sign_in(start(client), VERIFIED)
    assert callback(client, back).status_code == 302
    client.logout()

    response = callback(client, back)

    assert response.status_code == 400
    assert signed_in_user(client) is None
    assert refusals("state_mismatch") == 1


def test_an_id_token_with_a_wrong_nonce_is_refused(
    row: IdentityProvider, oidc_provider: OidcProvider
) -> None:
    client = local_client()
    oidc_provider.wrong_nonce()

    response = federated_sign_in(client, VERIFIED)

    assert response.status_code == 400
    assert signed_in_user(client) is None
    assert not User.objects.filter(email=EMAILS[VERIFIED]).exists()
    assert refusals("nonce_mismatch") == 1


def test_a_key_rotation_at_the_provider_is_picked_up(
    row: IdentityProvider, oidc_provider: OidcProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The flow refetches the JWKS for an unknown kid at most every few seconds; here, at once.
    monkeypatch.setattr(federation_client, "JWKS_REFETCH_SECONDS", 0)
    assert federated_sign_in(local_client(), VERIFIED).status_code == 302  # the JWKS cached

    oidc_provider.rotate_keys()
    client = local_client()
    response = federated_sign_in(client, VERIFIED)

    assert response.status_code == 302
    assert signed_in_user(client) is not None
    assert refusals("invalid_id_token") == 0


def test_a_stopped_provider_gives_a_503_page_and_problem(db: Any, tmp_path: Path) -> None:
    with running_provider(tmp_path) as provider:
        provider_row(provider)
        html, api = local_client(), local_client()
        backs = [provider_sign_in(start(client), VERIFIED) for client in (html, api)]
    # Stopped: the code exchange cannot reach its token endpoint.

    page = callback(html, backs[0])
    problem = callback(api, backs[1], accept="application/json")

    assert page.status_code == 503
    assert "text/html" in page["Content-Type"]
    assert problem.status_code == 503
    assert problem["Content-Type"].startswith("application/problem+json")
    assert problem.json()["code"] == "idp_unavailable"
    assert signed_in_user(html) is None
    assert signed_in_user(api) is None
    with pytest.raises(requests.ConnectionError):
        requests.get(provider.issuer, timeout=2)
