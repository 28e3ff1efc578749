"""API keys bound to one service (`resource`): minted, listed, exchanged, and refused as a
credential for this service's own API."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys.services import api_key_create
from authn.models import ApiKey
from permissions import registry
from permissions.models import Service
from tests.authn.api_keys.helpers import EXCHANGE, key_client
from tests.authn.dashboard_helpers import API_KEYS_URL, sign_in
from tests.authn.helpers import ME_URL, password_login
from tests.authn.resource_helpers import (
    BILLING_AUDIENCE,
    BILLING_READ,
    billing,  # noqa: F401 - a fixture
    claims_of,
    default_claims,
    give_billing_role,
)

pytestmark = pytest.mark.usefixtures("billing")
KEYS = "/api/v1/api-keys"


def bound_key(user: User, scopes: tuple[str, ...] = (BILLING_READ,)) -> Any:
    give_billing_role(user)
    return api_key_create(
        owner=user, name="b", scopes=scopes, expires_in_days=5, actor=None, resource="billing"
    )


def signed_in(user: User, password: str) -> APIClient:
    client = APIClient()
    token = password_login(user, password)["access_token"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_minting_with_a_resource_binds_the_key_and_lists_it(user: User, password: str) -> None:
    give_billing_role(user)
    client = signed_in(user, password)
    body = {"name": "job", "scopes": [BILLING_READ, "profile"], "resource": BILLING_AUDIENCE}
    response = client.post(KEYS, body, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["resource"] == "billing"  # stored by name
    assert ApiKey.objects.get().resource == "billing"
    listed = client.get(KEYS).json()["results"]
    assert [key["resource"] for key in listed] == ["billing"]
    created = AuditEvent.objects.get(type="api_key.created")
    assert created.data["resource"] == "billing"


def test_an_unbound_key_lists_a_null_resource(user: User, password: str) -> None:
    client = signed_in(user, password)
    response = client.post(KEYS, {"name": "k", "scopes": ["profile"]}, format="json")
    assert response.json()["resource"] is None
    assert client.get(KEYS).json()["results"][0]["resource"] is None


def test_a_bound_key_with_a_scope_its_service_does_not_own_is_refused(
    user: User, password: str
) -> None:
    give_billing_role(user)
    body = {"name": "k", "scopes": [BILLING_READ, "users:read"], "resource": "billing"}
    response = signed_in(user, password).post(KEYS, body, format="json")
    assert response.status_code == 400
    assert "users:read" in str(response.json()["errors"]["scopes"])
    assert not ApiKey.objects.exists()


def test_minting_for_an_unknown_resource_is_invalid_target(user: User, password: str) -> None:
    body = {"name": "k", "scopes": ["profile"], "resource": "nowhere"}
    response = signed_in(user, password).post(KEYS, body, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_target"


def test_the_service_refuses_an_unknown_resource_for_every_caller(user: User) -> None:
    with pytest.raises(ValidationError) as refused:
        api_key_create(
            owner=user, name="k", scopes=["profile"], expires_in_days=5, actor=None, resource="x"
        )
    assert "resource" in refused.value.message_dict


def test_a_bound_key_is_refused_by_this_services_api_with_a_clear_detail(user: User) -> None:
    response = key_client(bound_key(user).key).get(ME_URL)
    assert response.status_code == 401
    assert response.json()["code"] == "api_key_bound_elsewhere"
    assert "billing" in response.json()["detail"]


def test_exchanging_a_bound_key_gives_a_token_for_its_service(user: User) -> None:
    response = key_client(bound_key(user).key).post(EXCHANGE)
    assert response.status_code == 200, response.content
    claims = claims_of(response.json()["access_token"])
    assert claims["aud"] == BILLING_AUDIENCE
    assert claims["scope"] == BILLING_READ
    assert AuditEvent.objects.get(type="token.issued").data["resource"] == "billing"


def test_exchanging_a_bound_key_for_another_resource_is_invalid_target(user: User) -> None:
    response = key_client(bound_key(user).key).post(EXCHANGE, {"resource": "micro"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_target"


def test_a_key_bound_to_a_deleted_service_never_reaches_one_that_took_its_name_as_audience(
    user: User,
) -> None:
    """The binding is the service's name: a later service whose audience spells that name is
    another service, and the key exchanges for neither."""
    minted = bound_key(user, scopes=(BILLING_READ, "profile"))
    registry.service_delete(actor=None, service=Service.objects.get(name="billing"), force=True)
    registry.service_create(actor=None, name="orders", audience="billing")

    response = key_client(minted.key).post(EXCHANGE)

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "invalid_target"


def test_exchanging_an_unbound_key_for_a_resource_narrows_the_token(user: User) -> None:
    give_billing_role(user)
    minted = api_key_create(
        owner=user, name="k", scopes=[BILLING_READ, "users:read"], expires_in_days=5, actor=None
    )
    client = key_client(minted.key)
    narrowed = client.post(EXCHANGE, {"resource": "billing"}, format="json")
    assert claims_of(narrowed.json()["access_token"])["scope"] == BILLING_READ
    plain = client.post(EXCHANGE)
    assert default_claims(plain.json()["access_token"])["scope"] == f"{BILLING_READ} users:read"
    unknown = client.post(EXCHANGE, {"resource": "nope"}, format="json")
    assert unknown.json()["code"] == "invalid_target"


def test_a_rotated_bound_key_stays_bound(user: User, password: str) -> None:
    minted = bound_key(user)
    client = signed_in(user, password)
    response = client.post(f"{KEYS}/{minted.api_key.pk}/rotate", {"grace_hours": 0}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["resource"] == "billing"
    assert ApiKey.objects.get(pk=response.json()["id"]).resource == "billing"


def test_the_mint_command_binds_a_key_to_a_resource(user: User) -> None:
    give_billing_role(user)
    out = StringIO()
    call_command(
        "mint_api_key", "--user", user.username, "--scope", BILLING_READ,
        "--resource", "billing", "--json", stdout=out,
    )  # fmt: skip
    assert json.loads(out.getvalue())["resource"] == "billing"
    assert ApiKey.objects.get().resource == "billing"
    with pytest.raises(CommandError, match="resource"):
        call_command(
            "mint_api_key", "--user", user.username, "--scope", "profile", "--resource", "nope",
            stdout=StringIO(),
        )  # fmt: skip


def test_the_dashboard_mint_form_offers_the_services_and_binds_the_key(
    user: User, password: str
) -> None:
    give_billing_role(user)
    dashboard = Client()
    sign_in(dashboard, user, password)
    page = dashboard.get(API_KEYS_URL).content.decode()
    assert '<option value="billing">billing (https://billing.example)</option>' in page
    data = {"name": "ci", "scopes": [BILLING_READ], "expires_in_days": 30, "resource": "billing"}
    response = dashboard.post(API_KEYS_URL, data)
    assert response.status_code == 200, response.content
    assert ApiKey.objects.get().resource == "billing"
    assert "for <code>billing</code> only" in response.content.decode()
