"""Who may introspect a token: only a confidential client of an active service account,
judged by the client that authenticated (never one named in the body or by a public client)."""

from __future__ import annotations

from django.test import Client
from oauth2_provider.models import Application

from accounts.models import User
from authn.oauth.services import user_client_register
from tests.authn.oauth_helpers import (
    OAuthClient,
    basic,
    code_flow_tokens,
    ensure_cli_client,
    make_client,
)
from tests.factories import ServiceAccountFactory


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
