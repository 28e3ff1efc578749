"""While anyone may sign up, an account that signed itself up mints API keys only once its
address is verified: whoever registered someone else's address first must not hold a key
when its owner takes the account over. Accounts made by an administrator or a command, and
the operator's `mint_api_key`, are not held back."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts import email_flows
from accounts.models import User
from authn.api_keys.services import api_key_create
from authn.models import ApiKey
from tests.authn.dashboard_helpers import sign_in
from tests.factories import DEFAULT_PASSWORD

KEYS = "/api/v1/api-keys"
NEW_KEY = {"name": "ci", "scopes": ["profile"], "expires_in_days": 30}


@pytest.fixture
def signup_open(settings: Any) -> None:
    settings.MICRO_SIGNUP_OPEN = True


@pytest.fixture
def newcomer(db: Any, signup_open: None) -> User:
    """An account made through self sign-up, its address not verified yet."""
    return email_flows.user_signup(
        username="newcomer",
        email="newcomer@example.org",
        password=DEFAULT_PASSWORD,
        ip_address="203.0.113.30",
    )


def mint_through_api(client_for: Any, user: User) -> Any:
    return client_for(user).post(KEYS, NEW_KEY, format="json")


def test_an_unverified_signed_up_account_cannot_mint_while_sign_up_is_open(
    newcomer: User, client_for: Any
) -> None:
    response = mint_through_api(client_for, newcomer)

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "email_unverified"
    assert not ApiKey.objects.exists()


def test_it_mints_once_the_address_is_verified(newcomer: User, client_for: Any) -> None:
    email_flows.email_verify(token=email_flows.email_verification_token(user=newcomer))

    assert mint_through_api(client_for, newcomer).status_code == 201


def test_it_mints_when_sign_up_is_closed(newcomer: User, client_for: Any, settings: Any) -> None:
    settings.MICRO_SIGNUP_OPEN = False

    assert mint_through_api(client_for, newcomer).status_code == 201


def test_it_cannot_rotate_a_key_either(newcomer: User, client_for: Any) -> None:
    existing = api_key_create(
        owner=newcomer, name="old", scopes=["profile"], expires_in_days=5, actor=None
    )

    response = client_for(newcomer).post(
        f"{KEYS}/{existing.api_key.pk}/rotate", {"grace_hours": 0}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "email_unverified"
    assert ApiKey.objects.count() == 1


def test_an_account_created_by_an_administrator_mints_unverified(
    admin_client: APIClient, client_for: Any, signup_open: None
) -> None:
    created = admin_client.post(
        "/api/v1/users",
        {"username": "hired", "email": "hired@example.org", "password": DEFAULT_PASSWORD},
        format="json",
    )
    assert created.status_code == 201 and created.json()["email_verified"] is False
    hired = User.objects.get(username="hired")

    assert mint_through_api(client_for, hired).status_code == 201


def test_the_operators_command_mints_for_an_unverified_account(newcomer: User) -> None:
    out = StringIO()
    call_command(
        "mint_api_key", "--user", newcomer.username, "--scope", "profile", "--json", stdout=out
    )

    assert json.loads(out.getvalue().strip().splitlines()[-1])["key"].startswith("mk_")


def test_the_dashboard_says_to_confirm_the_address(newcomer: User) -> None:
    browser = Client()
    sign_in(browser, newcomer)

    response = browser.post(
        "/dashboard/api-keys/", {"name": "ci", "scopes": ["profile"], "expires_in_days": 30}
    )

    assert response.status_code == 400
    assert "Confirm your email address" in response.content.decode()
    assert not ApiKey.objects.exists()
