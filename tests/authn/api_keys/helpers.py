"""Helpers for the API key tests: mint a key, call with it, and the credentials that are not a
person's sign-in."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from authn.api_keys.services import api_key_create

EXCHANGE = "/api/v1/auth/token/exchange"


def mint(owner: User, scopes: tuple[str, ...] = ("users:read",)) -> Any:
    return api_key_create(owner=owner, name="k", scopes=scopes, expires_in_days=10, actor=None)


def key_client(raw: str, header: str = "HTTP_AUTHORIZATION") -> APIClient:
    client = APIClient()
    client.credentials(**{header: f"Bearer {raw}" if header == "HTTP_AUTHORIZATION" else raw})
    return client


MACHINE_CREDENTIALS = ["key", "exchanged token", "gateway token", "client credentials"]


def machine_client(user: User, parent: Any, via: str) -> APIClient:
    """A client holding a credential that is not a person's sign-in, derived from `parent`
    (a key of `user`) or, for client credentials, a service account's OAuth client."""
    client = key_client(parent.key)
    if via == "exchanged token":
        return key_client(client.post(EXCHANGE).json()["access_token"])
    if via == "gateway token":
        return key_client(client.get("/api/v1/auth/verify")["X-User-Token"])
    if via == "client credentials":
        out = StringIO()
        call_command(
            "createserviceaccount", "svc", "--scope", "profile", "users:read",
            "--oauth-client", "--json", stdout=out,
        )  # fmt: skip
        account = json.loads(out.getvalue().strip().splitlines()[-1])
        response = Client().post(
            "/o/token/",
            {
                "grant_type": "client_credentials",
                "client_id": account["client_id"],
                "client_secret": account["client_secret"],
            },
        )
        return key_client(response.json()["access_token"])
    return client


def assert_refused_as_machine(response: Any, via: str) -> None:
    if via == "gateway token":  # not a credential of this service at all (docs/gateway.md)
        assert response.status_code == 401
        assert response.json()["code"] == "invalid_token"
        return
    assert response.status_code == 403
    assert response.json()["code"] == "sign_in_required"
