"""Tokens for one service at the OAuth 2.0 endpoints: `resource` (RFC 8707) on /o/authorize/
and /o/token/ for every grant."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import AccessToken, Grant

from accounts.models import User
from audit.models import AuditEvent
from tests.authn.oauth_helpers import (
    AUTHORIZE_URL,
    DEVICE_GRANT,
    REDIRECT_URI,
    TOKEN_URL,
    OAuthClient,
    authorize,
    authorize_params,
    create_account,
    device_decision,
    exchange,
    pkce_pair,
    token,
)
from tests.authn.resource_helpers import (
    BILLING_AUDIENCE,
    BILLING_READ,
    billing,  # noqa: F401 - a fixture
    claims_of,
    default_claims,
    give_billing_role,
)

pytestmark = pytest.mark.usefixtures("billing")

WIDE = f"openid profile users:read {BILLING_READ}"


@pytest.fixture
def clerk(member: User) -> User:
    give_billing_role(member)
    return member


def code_tokens(
    browser: Client, client: OAuthClient, *, at_token: str | None = None, **extra: str
) -> Any:
    """A code authorized with `extra` (e.g. a resource), exchanged naming `at_token`."""
    verifier, challenge = pkce_pair()
    code = authorize(browser, client, challenge, **extra)
    resource = {} if at_token is None else {"resource": at_token}
    return exchange(Client(), client, code, verifier, **resource)


def refresh_for(client: OAuthClient, refresh_token: str, **extra: str) -> Any:
    body = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
    return Client().post(TOKEN_URL, {**body, **client.credentials()})


def authorize_page(browser: Client, client: OAuthClient, **extra: str) -> Any:
    _, challenge = pkce_pair()
    return browser.get(f"{AUTHORIZE_URL}?{urlencode(authorize_params(client, challenge, **extra))}")


def redirect_error(response: Any) -> dict[str, list[str]]:
    assert response.status_code == 302, response.content
    assert response["Location"].startswith(REDIRECT_URI)
    return parse_qs(urlsplit(response["Location"]).query)


# --- Authorization code ----------------------------------------------------------------------


@pytest.mark.parametrize("resource", ["billing", BILLING_AUDIENCE])
def test_a_code_authorized_for_a_resource_gets_a_token_for_that_service_only(
    browser: Client, web_client: OAuthClient, clerk: User, resource: str
) -> None:
    response = code_tokens(
        browser, web_client, resource=resource, scope=f"openid profile {BILLING_READ}"
    )

    assert response.status_code == 200, response.content
    tokens = response.json()
    access = claims_of(tokens["access_token"])
    assert access["aud"] == BILLING_AUDIENCE
    assert access["scope"] == f"{BILLING_READ} profile"
    assert set(tokens["scope"].split()) == {"openid", "profile", BILLING_READ}
    assert Grant.objects.count() == 0  # redeemed; the stored resource was the service name
    event = AuditEvent.objects.get(type="token.issued")
    assert event.data["resource"] == "billing"
    assert event.data["scope"] == tokens["scope"]


def test_the_code_keeps_the_service_name_and_the_consent_page_names_the_service(
    browser: Client, web_client: OAuthClient, clerk: User
) -> None:
    page = authorize_page(browser, web_client, resource=BILLING_AUDIENCE, scope=BILLING_READ)
    assert page.status_code == 200
    assert b"For the service <strong>billing</strong>" in page.content
    assert b"Invoices and payments." in page.content

    _, challenge = pkce_pair()
    authorize(browser, web_client, challenge, resource=BILLING_AUDIENCE, scope=BILLING_READ)
    assert Grant.objects.get().resource == ["billing"]


def test_without_resource_the_consent_page_names_no_service(
    browser: Client, web_client: OAuthClient
) -> None:
    page = authorize_page(browser, web_client)
    assert page.status_code == 200
    assert b'id="resource"' not in page.content


def test_a_code_exchange_naming_another_resource_than_the_authorization_is_invalid_target(
    browser: Client, web_client: OAuthClient, clerk: User
) -> None:
    verifier, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge, resource="billing", scope=BILLING_READ)

    refused = exchange(Client(), web_client, code, verifier, resource="micro")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_target"
    assert not AccessToken.objects.exists()
    # The same resource, by its audience, is the authorized one.
    same = exchange(Client(), web_client, code, verifier, resource=BILLING_AUDIENCE)
    assert same.status_code == 200, same.content
    assert claims_of(same.json()["access_token"])["aud"] == BILLING_AUDIENCE


def test_a_code_authorized_without_resource_may_be_exchanged_for_one_service(
    browser: Client, web_client: OAuthClient, clerk: User
) -> None:
    response = code_tokens(browser, web_client, at_token="billing", scope=WIDE)

    assert response.status_code == 200, response.content
    assert claims_of(response.json()["access_token"])["scope"] == f"{BILLING_READ} profile"
    # The rows keep what was authorized: a refresh without resource gets all of it.
    assert set(AccessToken.objects.get().scope.split()) == set(WIDE.split())
    again = refresh_for(web_client, response.json()["refresh_token"])
    assert again.status_code == 200, again.content
    assert set(default_claims(again.json()["access_token"])["scope"].split()) == {
        "profile",
        "users:read",
        BILLING_READ,
    }


def test_an_unknown_resource_at_authorize_goes_back_to_the_client_as_invalid_target(
    browser: Client, web_client: OAuthClient
) -> None:
    query = redirect_error(authorize_page(browser, web_client, resource="https://nowhere.example"))
    assert query["error"] == ["invalid_target"]
    assert query["state"] == ["st-123"]
    assert not Grant.objects.exists()


def test_an_unknown_resource_with_a_bad_redirect_uri_shows_the_error_page(
    browser: Client, web_client: OAuthClient
) -> None:
    page = authorize_page(
        browser, web_client, resource="nowhere", redirect_uri="https://evil.example/cb"
    )
    assert page.status_code == 400
    assert "Location" not in page


def test_a_scope_the_resource_does_not_own_at_authorize_is_invalid_scope(
    browser: Client, web_client: OAuthClient
) -> None:
    query = redirect_error(authorize_page(browser, web_client, resource="billing", scope=WIDE))
    assert query["error"] == ["invalid_scope"]
    assert "users:read" in query["error_description"][0]


def test_a_consent_form_changed_to_an_unknown_resource_issues_no_code(
    browser: Client, web_client: OAuthClient
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(web_client, challenge, resource="billing", scope=BILLING_READ)
    assert browser.get(f"{AUTHORIZE_URL}?{urlencode(params)}").status_code == 200

    answer = browser.post(AUTHORIZE_URL, {**params, "resource": "nowhere", "allow": "Authorize"})

    assert redirect_error(answer)["error"] == ["invalid_target"]
    assert not Grant.objects.exists()


def test_a_consent_form_with_no_resource_issues_a_general_code_whatever_the_query_says(
    browser: Client, web_client: OAuthClient
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(web_client, challenge, scope=BILLING_READ)
    answer = browser.post(f"{AUTHORIZE_URL}?resource=nowhere", {**params, "allow": "Authorize"})
    assert answer.status_code == 302
    assert "code" in parse_qs(urlsplit(answer["Location"]).query)
    assert Grant.objects.get().resource == []


# --- Refresh ---------------------------------------------------------------------------------


def test_a_refresh_for_a_resource_narrows_the_access_token_only(
    browser: Client, web_client: OAuthClient, clerk: User
) -> None:
    tokens = code_tokens(browser, web_client, scope=WIDE).json()

    narrowed = refresh_for(web_client, tokens["refresh_token"], resource="billing")
    assert narrowed.status_code == 200, narrowed.content
    body = narrowed.json()
    assert claims_of(body["access_token"])["scope"] == f"{BILLING_READ} profile"
    assert set(body["scope"].split()) == {"openid", "profile", BILLING_READ}
    stored = AccessToken.objects.order_by("-created").first()
    assert stored is not None and set(stored.scope.split()) == set(WIDE.split())

    general = refresh_for(web_client, body["refresh_token"])
    assert general.status_code == 200, general.content
    assert "users:read" in default_claims(general.json()["access_token"])["scope"].split()
    refreshed = AuditEvent.objects.filter(type="token.refreshed").order_by("created_at")
    assert [event.data.get("resource") for event in refreshed] == ["billing", None]


def test_a_refresh_of_a_code_authorized_for_a_resource_stays_for_that_service(
    browser: Client, web_client: OAuthClient, clerk: User
) -> None:
    tokens = code_tokens(
        browser, web_client, resource="billing", scope=f"openid profile {BILLING_READ}"
    ).json()

    elsewhere = refresh_for(web_client, tokens["refresh_token"], resource="micro")
    assert elsewhere.status_code == 400
    assert elsewhere.json()["error"] == "invalid_target"
    again = refresh_for(web_client, tokens["refresh_token"])
    assert again.status_code == 200, again.content
    assert claims_of(again.json()["access_token"])["aud"] == BILLING_AUDIENCE
    following = refresh_for(web_client, again.json()["refresh_token"], resource="billing")
    assert following.status_code == 200, following.content
    assert claims_of(following.json()["access_token"])["scope"] == f"{BILLING_READ} profile"


def test_a_refresh_naming_an_unknown_resource_leaves_the_refresh_token_usable(
    browser: Client, web_client: OAuthClient, clerk: User
) -> None:
    tokens = code_tokens(browser, web_client).json()

    refused = refresh_for(web_client, tokens["refresh_token"], resource="nowhere")
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_target"
    assert refresh_for(web_client, tokens["refresh_token"]).status_code == 200


def test_a_refresh_asking_for_a_scope_the_resource_does_not_own_is_invalid_scope(
    browser: Client, web_client: OAuthClient, clerk: User
) -> None:
    tokens = code_tokens(browser, web_client, scope=WIDE).json()

    refused = refresh_for(
        web_client, tokens["refresh_token"], resource="billing", scope="users:read"
    )
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_scope"


# --- Client credentials and the device grant --------------------------------------------------


@pytest.fixture
def account(db: Any) -> dict[str, Any]:
    return create_account("reports", "--scope", "users:read", BILLING_READ, "--oauth-client")


def credentials_token(account: dict[str, Any], **extra: str) -> Any:
    body = {"grant_type": "client_credentials", **extra}
    return Client().post(
        TOKEN_URL,
        {**body, "client_id": account["client_id"], "client_secret": account["client_secret"]},
    )


def test_client_credentials_for_a_resource_get_that_services_scopes(
    account: dict[str, Any],
) -> None:
    response = credentials_token(account, resource="billing")

    assert response.status_code == 200, response.content
    assert response.json()["scope"] == BILLING_READ
    access = claims_of(response.json()["access_token"])
    assert access["aud"] == BILLING_AUDIENCE
    assert access["scope"] == BILLING_READ
    assert AuditEvent.objects.get(type="token.issued").data["resource"] == "billing"


def test_client_credentials_asking_for_a_scope_outside_the_resource_are_invalid_scope(
    account: dict[str, Any],
) -> None:
    response = credentials_token(account, resource="billing", scope="users:read")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("resources", [["nowhere"], ["billing", "micro"]])
def test_an_unknown_resource_or_two_services_at_the_token_endpoint_is_invalid_target(
    account: dict[str, Any], resources: list[str]
) -> None:
    response = Client().post(
        TOKEN_URL,
        urlencode(
            [
                ("grant_type", "client_credentials"),
                ("client_id", account["client_id"]),
                ("client_secret", account["client_secret"]),
                *(("resource", resource) for resource in resources),
            ]
        ),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    assert response.json()["error"] == "invalid_target"
    assert not AuditEvent.objects.filter(type="token.issued").exists()


def test_without_resource_client_credentials_are_unchanged(account: dict[str, Any]) -> None:
    response = token(account["client_id"], account["client_secret"])
    assert response.status_code == 200
    assert set(default_claims(response.json()["access_token"])["scope"].split()) == {
        "users:read",
        BILLING_READ,
    }


def test_a_device_code_redeemed_for_a_resource_gets_a_token_for_that_service(
    browser: Client, clerk: User
) -> None:
    started = Client().post(
        "/o/device-authorization/",
        urlencode({"client_id": "micro-cli", "scope": WIDE}),
        content_type="application/x-www-form-urlencoded",
    )
    assert started.status_code == 200, started.content
    user_code, device_code = started.json()["user_code"], started.json()["device_code"]
    entered = browser.post("/o/device/", {"user_code": user_code})
    browser.post(entered["Location"], device_decision(browser, entered["Location"]))

    response = Client().post(
        TOKEN_URL,
        {
            "grant_type": DEVICE_GRANT,
            "device_code": device_code,
            "client_id": "micro-cli",
            "resource": "billing",
        },
    )

    assert response.status_code == 200, response.content
    access = claims_of(response.json()["access_token"])
    assert access["aud"] == BILLING_AUDIENCE
    assert access["scope"] == f"{BILLING_READ} profile"
