"""Tokens for one service: `resource` at the token and refresh endpoints (RFC 8707)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from tests.authn.helpers import REFRESH_URL, TOKEN_URL, me_status, password_login
from tests.authn.resource_helpers import (
    BILLING_AUDIENCE,
    BILLING_READ,
    billing,  # noqa: F401 - a fixture
    claims_of,
    default_claims,
    give_billing_group,
    give_billing_role,
)

pytestmark = pytest.mark.usefixtures("billing")


def sign_in(user: User, password: str, **extra: Any) -> Any:
    return APIClient().post(
        TOKEN_URL, {"username": user.username, "password": password, **extra}, format="json"
    )


@pytest.mark.parametrize("resource", ["billing", BILLING_AUDIENCE])
def test_a_sign_in_for_a_resource_gets_that_services_audience_and_scopes_only(
    user: User, password: str, resource: str
) -> None:
    give_billing_role(user)
    pair = password_login(user, password, resource=resource)
    claims = claims_of(pair["access_token"])
    assert claims["aud"] == BILLING_AUDIENCE
    assert claims["scope"] == f"{BILLING_READ} profile"
    assert pair["scope"] == f"{BILLING_READ} profile"


def test_a_group_scope_reaches_a_token_for_its_service(user: User, password: str) -> None:
    give_billing_group(user)
    pair = password_login(user, password, resource="billing", scope=BILLING_READ)
    assert claims_of(pair["access_token"])["scope"] == BILLING_READ


def test_a_requested_scope_the_resource_does_not_own_is_invalid_scope(
    user: User, password: str
) -> None:
    give_billing_role(user)
    response = sign_in(user, password, resource="billing", scope=f"{BILLING_READ} users:read")
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_scope"
    assert "users:read" in str(response.json()["errors"])


def test_an_unknown_resource_is_invalid_target_problem(user: User, password: str) -> None:
    response = sign_in(user, password, resource="https://nowhere.example")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_target"
    assert not AuditEvent.objects.filter(type="token.issued").exists()


def test_without_resource_the_token_is_for_this_service_as_before(
    user: User, password: str
) -> None:
    give_billing_role(user)
    claims = default_claims(password_login(user, password)["access_token"])
    assert BILLING_READ in claims["scope"].split()
    assert "users:read" in claims["scope"].split()


def test_a_token_for_another_service_is_refused_by_this_services_api(
    user: User, password: str
) -> None:
    give_billing_role(user)
    pair = password_login(user, password, resource="billing")
    assert me_status(pair["access_token"]) == 401
    assert me_status(password_login(user, password)["access_token"]) == 200


def test_a_refresh_for_a_resource_narrows_the_access_token_and_the_family_stays_general(
    user: User, password: str
) -> None:
    give_billing_role(user)
    pair = password_login(user, password)
    response = APIClient().post(
        REFRESH_URL, {"refresh_token": pair["refresh_token"], "resource": "billing"}, format="json"
    )
    assert response.status_code == 200
    assert claims_of(response.json()["access_token"])["scope"] == f"{BILLING_READ} profile"
    again = APIClient().post(
        REFRESH_URL, {"refresh_token": response.json()["refresh_token"]}, format="json"
    )
    assert "users:read" in default_claims(again.json()["access_token"])["scope"].split()
    refreshed = AuditEvent.objects.filter(type="token.refreshed").order_by("created_at")
    assert [event.data.get("resource") for event in refreshed] == ["billing", None]


def test_a_refresh_naming_an_unknown_resource_is_refused_before_the_token_is_used(
    user: User, password: str
) -> None:
    pair = password_login(user, password)
    response = APIClient().post(
        REFRESH_URL, {"refresh_token": pair["refresh_token"], "resource": "nope"}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_target"
    still = APIClient().post(REFRESH_URL, {"refresh_token": pair["refresh_token"]}, format="json")
    assert still.status_code == 200


def test_the_sign_in_audit_names_the_resource(user: User, password: str) -> None:
    give_billing_role(user)
    password_login(user, password, resource=BILLING_AUDIENCE)
    event = AuditEvent.objects.get(type="token.issued")
    assert event.data["resource"] == "billing"
