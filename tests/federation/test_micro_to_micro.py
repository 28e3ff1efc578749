"""Micro-to-Micro federation: another instance of this service (gunicorn, production settings)
as the upstream OpenID provider. Signing in here through it proves both sides: this instance's
Authlib client validates the other's discovery, JWKS and ID token as a real relying party."""

from __future__ import annotations

from typing import Any

import pytest

from authn.models import ExternalIdentity, IdentityProvider
from tests.clients.live_server import LiveServer
from tests.federation.conftest import (
    UPSTREAM_USERS,
    local_client,
    micro_sign_in,
    signed_in_user,
)

SLUG = "upstream"


@pytest.fixture
def upstream_row(upstream_micro: LiveServer, db: Any) -> IdentityProvider:
    env = upstream_micro.env
    row = IdentityProvider(
        slug=SLUG,
        display_name="Upstream Micro",
        issuer=upstream_micro.url,
        client_id=env["MICRO_LIVE_OIDC_CLIENT_ID"],
        # The scopes relying parties usually ask for: Micro serves OpenID Connect's `email`.
        scopes=["openid", "email", "profile"],
        create_accounts=True,
    )
    row.set_client_secret(env["MICRO_LIVE_OIDC_CLIENT_SECRET"])
    row.save()
    return row


def test_signing_in_here_through_another_micro_instance(
    upstream_micro: LiveServer, upstream_row: IdentityProvider
) -> None:
    (username, email) = UPSTREAM_USERS[0]
    client = local_client()
    start = client.get(f"/accounts/federation/{SLUG}/start/?next=/dashboard/")
    assert start.status_code == 302
    assert start["Location"].startswith(f"{upstream_micro.url}/o/authorize/")

    back = micro_sign_in(start["Location"], username, upstream_micro.env["MICRO_LIVE_PASSWORD"])
    response = client.get(back.removeprefix(f"http://{client.defaults['HTTP_HOST']}"))

    assert response.status_code == 302, response.content
    assert response["Location"] == "/dashboard/"
    user = signed_in_user(client)
    assert user is not None
    assert (user.username, user.email, user.email_verified) == (username, email, True)
    identity = ExternalIdentity.objects.get(provider=upstream_row, user=user)
    assert identity.email == email
    assert client.session["micro_amr"][0] == "fed"
