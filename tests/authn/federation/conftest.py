"""Fixtures of the federated sign-in tests: a fake provider and its row here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from authn.federation.client import clients_forget
from authn.models import IdentityProvider
from tests.authn.federation.fake_provider import CLIENT_ID, CLIENT_SECRET, FakeProvider


@pytest.fixture
def upstream() -> Iterator[FakeProvider]:
    provider = FakeProvider()
    clients_forget()
    yield provider
    clients_forget()
    provider.close()


@pytest.fixture
def idp(db: Any, upstream: FakeProvider) -> IdentityProvider:
    row = IdentityProvider(
        slug="acme",
        display_name="Acme ID",
        issuer=upstream.issuer,
        client_id=CLIENT_ID,
        scopes=["openid", "email", "profile"],
        create_accounts=True,
    )
    row.set_client_secret(CLIENT_SECRET)
    row.save()
    return row


def begin(client: Client, upstream: FakeProvider, slug: str = "acme", next_url: str = "") -> str:
    """Starts a sign-in; returns its state (the provider is told the nonce it must echo)."""
    query = f"?next={next_url}" if next_url else ""
    response = client.get(f"/accounts/federation/{slug}/start/{query}")
    assert response.status_code == 302, response.content
    params = parse_qs(urlsplit(response["Location"]).query)
    upstream.nonce = params["nonce"][0]
    return params["state"][0]


def finish(client: Client, state: str, slug: str = "acme", accept: str = "text/html") -> Any:
    return client.get(
        f"/accounts/federation/{slug}/callback/",
        {"state": state, "code": "the-code"},
        headers={"Accept": accept},
    )


def sign_in(client: Client, upstream: FakeProvider, slug: str = "acme") -> Any:
    return finish(client, begin(client, upstream, slug), slug)
