"""The federated sign-in: start, callback, and every check's refusal."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from authn.models import ExternalIdentity, IdentityProvider
from authn.sessions.proof import AMR_KEY, IDP_KEY
from tests.authn.federation.conftest import begin, finish, sign_in
from tests.authn.federation.fake_provider import CLIENT_ID, FakeProvider

pytestmark = pytest.mark.django_db


def _refusals(reason: str) -> int:
    return AuditEvent.objects.filter(type="federation.refused", data__reason=reason).count()


def _signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_start_redirects_to_provider_with_pkce_state_and_nonce(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    response = client.get("/accounts/federation/acme/start/")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{upstream.issuer}/authorize"
    params = parse_qs(location.query)
    assert params["client_id"] == [CLIENT_ID]
    assert params["code_challenge_method"] == ["S256"]
    assert params["redirect_uri"] == ["http://testserver/accounts/federation/acme/callback/"]
    assert set(params["scope"][0].split()) == {"openid", "email", "profile"}
    assert params["state"] and params["nonce"] and params["code_challenge"]


def test_first_sign_in_creates_the_account_and_signs_in(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    upstream.claims.update(preferred_username="ada", name="Ada L", amr=["pwd"])
    response = sign_in(client, upstream)
    assert response.status_code == 302
    assert response["Location"] == "/dashboard/"
    user = User.objects.get(username="ada")
    assert user.email == "ada@example.com" and user.email_verified
    assert user.display_name == "Ada L"
    assert not user.has_usable_password()
    identity = ExternalIdentity.objects.get(provider=idp, subject="upstream-1")
    assert identity.user == user
    assert client.session[AMR_KEY] == ["fed", "pwd"]
    assert client.session[IDP_KEY] == "acme"
    event = AuditEvent.objects.get(type="login.succeeded")
    assert event.data == {"method": "federated", "amr": ["fed", "pwd"], "idp": "acme"}
    created = AuditEvent.objects.get(type="user.created")
    assert created.data["via"] == "federation"
    # The code exchange sent the PKCE verifier and authenticated the client.
    assert upstream.token_requests[0]["code_verifier"]


def test_second_sign_in_uses_the_link(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    sign_in(client, upstream)
    client.post("/accounts/logout/")
    response = sign_in(client, upstream)
    assert response.status_code == 302 and _signed_in(client)
    assert User.objects.count() == 1
    assert ExternalIdentity.objects.get().last_used_at is not None


def test_next_is_kept_when_safe(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream, next_url="/o/authorize/%3Fclient_id%3Dx")
    response = finish(client, state)
    assert response["Location"] == "/o/authorize/?client_id=x"


def test_next_off_site_falls_back_to_dashboard(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream, next_url="https://evil.example/")
    assert finish(client, state)["Location"] == "/dashboard/"


def test_a_flood_of_unknown_slugs_is_throttled_not_audited_without_end(
    client: Client, db: None, settings: Any
) -> None:
    settings.MICRO_LOGIN_FAILURES_PER_IP = 3
    statuses = [client.get(f"/accounts/federation/nope-{n}/start/").status_code for n in range(6)]
    assert statuses == [404, 404, 404, 429, 429, 429]
    assert _refusals("unknown_provider") == 3


def test_unknown_slug_is_a_404_page_and_audited(client: Client, db: None) -> None:
    response = client.get("/accounts/federation/nope/start/")
    assert response.status_code == 404
    assert _refusals("unknown_provider") == 1
    response = client.get("/accounts/federation/nope/callback/?state=x&code=y")
    assert response.status_code == 404
    problem = client.get("/accounts/federation/nope/start/", headers={"Accept": "application/json"})
    assert problem.status_code == 404
    assert problem["Content-Type"] == "application/problem+json"
    assert problem.json()["code"] == "not_found"


def test_disabled_provider_is_unknown(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(enabled=False)
    assert client.get("/accounts/federation/acme/start/").status_code == 404


def test_wrong_state_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    begin(client, upstream)
    response = finish(client, "not-the-state")
    assert response.status_code == 400
    assert _refusals("state_mismatch") == 1
    assert not _signed_in(client)
    assert upstream.token_requests == []


def test_replayed_state_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream)
    assert finish(client, state).status_code == 302
    client.post("/accounts/logout/")
    response = finish(client, state)
    assert response.status_code == 400
    assert _refusals("state_mismatch") == 1


def test_state_from_another_browser_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(Client(), upstream)
    assert finish(client, state).status_code == 400
    assert _refusals("state_mismatch") == 1


def test_wrong_nonce_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream)
    upstream.nonce = "another-nonce"
    response = finish(client, state)
    assert response.status_code == 400
    assert _refusals("nonce_mismatch") == 1
    assert not _signed_in(client)


def test_missing_nonce_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream)
    upstream.nonce = None
    assert finish(client, state).status_code == 400
    assert not _signed_in(client)


@pytest.mark.parametrize(
    "claims",
    [
        {"exp": 1_000_000},
        {"iss": "http://127.0.0.1:1"},
        {"aud": "someone-else"},
        {"aud": ["someone-else"], "azp": CLIENT_ID},
        {"azp": "someone-else"},
    ],
    ids=["expired", "wrong-iss", "wrong-aud", "wrong-aud-with-our-azp", "azp-mismatch"],
)
def test_invalid_id_token_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, claims: dict[str, object]
) -> None:
    upstream.claims.update(claims)
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert _refusals("invalid_id_token") == 1
    assert not _signed_in(client)
    assert not User.objects.exists()


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat"])
def test_id_token_without_an_essential_claim_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, claim: str
) -> None:
    upstream.claims[claim] = None  # the fake provider leaves it out
    response = sign_in(client, upstream)
    assert response.status_code == 400
    assert _refusals("invalid_id_token") == 1
    assert not _signed_in(client)


def test_alg_none_is_refused(client: Client, upstream: FakeProvider, idp: IdentityProvider) -> None:
    state = begin(client, upstream)
    upstream.raw_id_token = upstream.unsigned_id_token()
    assert finish(client, state).status_code == 400
    assert _refusals("invalid_id_token") == 1


def test_alg_none_is_refused_even_when_the_provider_lists_it(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    upstream.discovery["id_token_signing_alg_values_supported"] = ["none", "RS256"]
    state = begin(client, upstream)
    upstream.raw_id_token = upstream.unsigned_id_token()
    assert finish(client, state).status_code == 400
    assert not _signed_in(client)


def test_hs256_keyed_with_the_public_key_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    upstream.discovery["id_token_signing_alg_values_supported"] = ["RS256", "HS256"]
    state = begin(client, upstream)
    upstream.raw_id_token = upstream.hs256_with_public_key()
    assert finish(client, state).status_code == 400
    assert _refusals("invalid_id_token") == 1


def test_provider_error_answer_is_refused(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream)
    response = client.get(
        "/accounts/federation/acme/callback/", {"state": state, "error": "access_denied"}
    )
    assert response.status_code == 400
    assert _refusals("upstream_error") == 1


def test_public_client_sends_no_secret(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    idp.set_client_secret("")
    idp.save()
    assert sign_in(client, upstream).status_code == 302
    sent = upstream.token_requests[0]
    assert sent["client_id"] == [CLIENT_ID]
    assert "client_secret" not in sent
    assert upstream.token_headers[0].get("Authorization") is None


def test_confidential_client_authenticates_with_basic(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    assert sign_in(client, upstream).status_code == 302
    assert upstream.token_headers[0]["Authorization"].startswith("Basic ")


def test_login_page_lists_enabled_providers_keeping_next(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    IdentityProvider.objects.create(
        slug="off", display_name="Disabled ID", issuer=upstream.issuer, client_id="x", enabled=False
    )
    page = client.get("/accounts/login/?next=/o/device/").content.decode()
    assert "Sign in with Acme ID" in page
    assert 'href="/accounts/federation/acme/start/?next=/o/device/"' in page
    assert "Disabled ID" not in page
