"""Edges of the OAuth 2.0 provider: racing code exchanges, every way of revoking reaching
every endpoint, bad logout input, who may introspect, and sign-in-only requests."""

from __future__ import annotations

import base64
import threading
from typing import Any
from urllib.parse import urlencode

import pytest
from django.db import connection, connections
from django.test import Client
from oauth2_provider.models import Application
from rest_framework.test import APIClient

from accounts.models import User
from authn.oauth.services import user_client_register
from authn.services import revocation
from authn.services.tokens import user_credentials_revoke
from tests.authn.oauth_helpers import (
    DEVICE_GRANT,
    TOKEN_URL,
    OAuthClient,
    authorize,
    claims,
    code_flow_tokens,
    device_decision,
    ensure_cli_client,
    exchange,
    make_client,
    pkce_pair,
    refresh,
)
from tests.factories import ServiceAccountFactory


def userinfo(token: str) -> Any:
    return Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}")


def basic(client: OAuthClient) -> str:
    raw = f"{client.client_id}:{client.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_the_api_revoke_endpoint_ends_the_oauth_grant_everywhere(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    assert userinfo(tokens["access_token"]).status_code == 200

    APIClient().post("/api/v1/auth/token/revoke", {"token": tokens["access_token"]}, format="json")

    assert userinfo(tokens["access_token"]).status_code == 401
    assert refresh(Client(), web_client, tokens["refresh_token"]).status_code == 400


def test_userinfo_refuses_a_token_whose_user_was_revoked(
    browser: Client, web_client: OAuthClient, member: User
) -> None:

    tokens = code_flow_tokens(browser, web_client)
    revocation.revoke_subject(user_id=str(member.pk))

    response = userinfo(tokens["access_token"])

    assert response.status_code == 401
    assert "invalid_token" in response["WWW-Authenticate"]


def test_ending_sign_ins_also_voids_a_pending_code_and_an_approved_device(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    ensure_cli_client()
    verifier, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge)

    started = (
        Client()
        .post(
            "/o/device-authorization/",
            urlencode({"client_id": "micro-cli", "scope": "profile"}),
            content_type="application/x-www-form-urlencoded",
        )
        .json()
    )
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    browser.post(entered["Location"], device_decision(browser, entered["Location"]))

    user_credentials_revoke(user=member)

    assert exchange(Client(), web_client, code, verifier).status_code == 400
    polled = Client().post(
        TOKEN_URL,
        {
            "grant_type": DEVICE_GRANT,
            "device_code": started["device_code"],
            "client_id": "micro-cli",
        },
    )
    assert polled.status_code == 400
    assert "access_token" not in polled.json()


@pytest.mark.parametrize("query", [{"client_id": "zzz"}, {"id_token_hint": "not.a.jwt"}])
def test_logout_with_bad_input_answers_400(db: Any, query: dict[str, str]) -> None:
    response = Client().get("/o/logout/", query)
    assert response.status_code == 400


def test_a_client_a_user_registered_may_not_introspect(
    browser: Client, member: User, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    users_client = make_client(owner=member, name="Someone's app")

    refused = Client().post(
        "/o/introspect/", {"token": tokens["access_token"]}, HTTP_AUTHORIZATION=basic(users_client)
    )

    assert refused.status_code == 403
    assert b"active" not in refused.content


def test_a_client_a_service_account_registered_in_the_dashboard_may_not_introspect(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    # A service account someone gave a password (before those were refused) signs in to the
    # dashboard and registers an app there: that app is not the operator-made client.
    service = ServiceAccountFactory.create()
    registered = user_client_register(
        owner=service,
        name="looks like a gateway",
        client_type=Application.CLIENT_CONFIDENTIAL,
        redirect_uris="https://app.example/cb",
        actor=service,
    )
    dashboard_client = OAuthClient(
        registered.application, registered.application.client_id, registered.client_secret
    )

    refused = Client().post(
        "/o/introspect/",
        {"token": tokens["access_token"]},
        HTTP_AUTHORIZATION=basic(dashboard_client),
    )

    assert refused.status_code == 403
    assert b"active" not in refused.content


def test_a_service_accounts_client_may_introspect(browser: Client, web_client: OAuthClient) -> None:
    tokens = code_flow_tokens(browser, web_client)
    service = ServiceAccountFactory.create()
    services_client = make_client(
        owner=service, grant_type=Application.GRANT_CLIENT_CREDENTIALS, name="gateway"
    )

    answer = Client().post(
        "/o/introspect/",
        {"token": tokens["access_token"]},
        HTTP_AUTHORIZATION=basic(services_client),
    )

    assert answer.status_code == 200
    assert answer.json()["active"] is True


def test_openid_alone_signs_in_without_api_scopes(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client, scope="openid")

    assert tokens["scope"] == "openid"
    assert claims(tokens["id_token"])["sub"] == str(member.pk)
    assert claims(tokens["access_token"])["scope"] == ""
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert me.get("/api/v1/users?ids=" + str(member.pk)).status_code == 403


def test_oauth_tokens_do_not_claim_a_second_factor(
    browser: Client, web_client: OAuthClient
) -> None:
    access = claims(code_flow_tokens(browser, web_client)["access_token"])
    assert access["amr"] == ["pwd"]
    assert "auth_time" not in access


def test_a_confidential_device_client_may_poll_with_basic_auth(browser: Client, db: Any) -> None:

    device = make_client(grant_type=Application.GRANT_DEVICE_CODE, name="TV")
    started = (
        Client()
        .post(
            "/o/device-authorization/",
            urlencode({"client_id": device.client_id, "client_secret": device.client_secret}),
            content_type="application/x-www-form-urlencoded",
        )
        .json()
    )
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    browser.post(entered["Location"], device_decision(browser, entered["Location"]))

    response = Client().post(
        TOKEN_URL,
        {"grant_type": DEVICE_GRANT, "device_code": started["device_code"]},
        HTTP_AUTHORIZATION=basic(device),
    )

    assert response.status_code == 200, response.content


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_two_concurrent_exchanges_of_one_code_issue_nothing_that_lasts(
    member: User, web_client: OAuthClient
) -> None:
    """Single-use codes under a race: one exchange wins, the other is a re-use and revokes it."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are exercised on PostgreSQL")
    browser = Client()
    browser.force_login(member)
    verifier, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge)
    answers: list[Any] = []
    start = threading.Barrier(2)

    def exchange_once() -> None:
        try:
            start.wait(timeout=10)
            answers.append(exchange(Client(), web_client, code, verifier))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=exchange_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 400], [answer.content for answer in answers]
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {winner['access_token']}")
    assert api.get("/api/v1/me").status_code == 401


def test_introspection_judges_the_authenticated_client_not_a_named_one(
    browser: Client, member: User, web_client: OAuthClient
) -> None:
    """A user's client cannot borrow a service client's id in the body to introspect."""
    tokens = code_flow_tokens(browser, web_client)
    users_client = make_client(owner=member, name="Someone's app")
    service = ServiceAccountFactory.create()
    services_client = make_client(
        owner=service, grant_type=Application.GRANT_CLIENT_CREDENTIALS, name="gateway"
    )

    refused = Client().post(
        "/o/introspect/",
        {"token": tokens["access_token"], "client_id": services_client.client_id},
        HTTP_AUTHORIZATION=basic(users_client),
    )

    assert refused.status_code == 403
    assert b"active" not in refused.content


def test_a_public_client_cannot_introspect_without_a_secret(
    browser: Client, web_client: OAuthClient
) -> None:
    """The toolkit lets a public client "authenticate" by naming itself with the device grant
    type; the ownerless `micro-cli` client must not thereby become an introspection service."""
    tokens = code_flow_tokens(browser, web_client)
    ensure_cli_client()

    refused = Client().post(
        "/o/introspect/",
        {
            "token": tokens["access_token"],
            "client_id": "micro-cli",
            "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        },
    )

    assert refused.status_code == 403
    assert b"active" not in refused.content


def test_a_deactivated_service_accounts_client_cannot_introspect(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    service = ServiceAccountFactory.create()
    services_client = make_client(
        owner=service, grant_type=Application.GRANT_CLIENT_CREDENTIALS, name="gateway"
    )
    User.objects.filter(pk=service.pk).update(is_active=False)

    refused = Client().post(
        "/o/introspect/",
        {"token": tokens["access_token"]},
        HTTP_AUTHORIZATION=basic(services_client),
    )

    assert refused.status_code == 403
    assert b"active" not in refused.content
