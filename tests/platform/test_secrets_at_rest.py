"""Secrets at rest (issue 6): after every kind of credential has been issued and used, a dump of
every table of every database holds none of them — only digests and hashes (and for a passkey,
its public key: the private key never leaves the authenticator)."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.db import connections
from django.test import Client, RequestFactory
from django_otp_webauthn.models import WebAuthnCredential
from rest_framework.test import APIClient

from accounts.models import User
from authn.mfa.passkeys import passkey_registered
from authn.mfa.webauthn import MicroWebAuthnHelper
from tests.authn.dashboard_helpers import sign_in
from tests.authn.mfa.passkey_helpers import SoftAuthenticator, b64url
from tests.authn.oauth_helpers import code_flow_tokens, make_client
from tests.factories import DEFAULT_PASSWORD, UserFactory


def dump_everything() -> str:
    """Every row of every table of every configured database, as text (like a plain dump)."""
    chunks: list[str] = []
    for alias in connections:
        connection = connections[alias]
        with connection.cursor() as cursor:
            for table in connection.introspection.table_names(cursor):
                cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
                chunks.extend(repr(tuple(map(_readable, row))) for row in cursor.fetchall())
    return "\n".join(chunks)


def _readable(value: object) -> object:
    """Binary columns as hex (PostgreSQL hands them out as memoryviews, whose repr hides them)."""
    if isinstance(value, memoryview | bytes | bytearray):
        return bytes(value).hex()
    return value


def issue_a_passkey(user: User) -> dict[str, str]:
    """Registers a passkey and signs in with it through the helper; returns its private key."""
    key = SoftAuthenticator()
    helper = MicroWebAuthnHelper(RequestFactory().get("/"))
    options, state = helper.register_begin(user)
    device = helper.register_complete(user, state, key.register(options))
    passkey_registered(user=user, device=device, actor=None)
    options, state = helper.authenticate_begin(user=None, require_user_verification=True)
    helper.authenticate_complete(None, state, key.assert_(options))
    scalar = key.private_key.private_numbers().private_value.to_bytes(32, "big")
    pkcs8 = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "passkey private key": scalar.hex(),
        "passkey private key (PKCS#8)": pkcs8.hex(),
        "passkey private key (base64url)": b64url(scalar),
    }


def issue_every_credential(user: User) -> dict[str, str]:
    """Uses each way the service hands out a secret; returns the secrets it handed out."""
    secrets: dict[str, str] = {"password": DEFAULT_PASSWORD}
    api = APIClient()

    pair = api.post(
        "/api/v1/auth/token",
        {"username": user.username, "password": DEFAULT_PASSWORD},
        format="json",
    ).json()
    rotated = api.post(
        "/api/v1/auth/token/refresh", {"refresh_token": pair["refresh_token"]}, format="json"
    ).json()
    secrets |= {
        "access token": pair["access_token"],
        "refresh token": pair["refresh_token"],
        "rotated refresh token": rotated["refresh_token"],
    }

    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {rotated['access_token']}")
    key = bearer.post(
        "/api/v1/api-keys", {"name": "ci", "scopes": ["profile"]}, format="json"
    ).json()["key"]
    secrets |= {"API key": key, "API-key secret": key.split("_", 2)[2]}  # mk_<prefix>_<secret>
    exchanged = APIClient().post("/api/v1/auth/token/exchange", HTTP_AUTHORIZATION=f"Bearer {key}")
    secrets["exchanged token"] = exchanged.json()["access_token"]

    rpc = APIClient().generic(
        "POST",
        "/user/login",
        json.dumps({"username": user.username, "password": DEFAULT_PASSWORD}),
        content_type="application/json",
    )
    secrets["RPC session id"] = rpc.json()["session"]["id"]

    browser = Client()
    sign_in(browser, user)
    secrets["dashboard session id"] = browser.cookies["__Host-sessionid"].value

    web = make_client(name="Dump app")
    oauth = code_flow_tokens(browser, web)
    secrets |= {
        "OAuth client secret": web.client_secret,
        "OAuth access token": oauth["access_token"],
        "OAuth refresh token": oauth["refresh_token"],
    }

    out = StringIO()
    call_command(
        "createserviceaccount",
        "dump-svc",
        "--scope",
        "users:read",
        "--oauth-client",
        "--api-key",
        "--json",
        stdout=out,
    )
    account = json.loads(out.getvalue().strip().splitlines()[-1])
    client_credentials = (
        Client()
        .post(
            "/o/token/",
            {
                "grant_type": "client_credentials",
                "client_id": account["client_id"],
                "client_secret": account["client_secret"],
            },
        )
        .json()
    )
    secrets |= {
        "service client secret": account["client_secret"],
        "service API key": account["api_key"],
        "client-credentials token": client_credentials["access_token"],
    }
    secrets |= issue_a_passkey(user)
    # Long values only: a short fragment could turn up in the dump by chance.
    assert all(len(value) >= 20 for value in secrets.values()), secrets
    return secrets


@pytest.mark.django_db(databases="__all__")
def test_no_issued_secret_is_stored_in_clear(settings: Any) -> None:
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost:8000"]
    settings.MICRO_PASSKEYS_ENABLED = True
    user = UserFactory.create(username="dumped")

    secrets = issue_every_credential(user)
    dump = dump_everything()

    assert dump  # the dump did read the tables
    assert str(user.pk) in dump
    leaked = sorted(name for name, value in secrets.items() if value in dump)
    assert leaked == [], f"found in the database dump: {leaked}"


@pytest.mark.django_db(databases="__all__")
def test_the_dump_would_show_a_secret_that_was_stored() -> None:
    """The check above can fail: a value written to any table is found."""
    user = UserFactory.create(display_name="tell-tale-0123456789")
    assert "tell-tale-0123456789" in dump_everything()
    assert user.pk


@pytest.mark.django_db(databases="__all__")
def test_the_dump_would_show_a_binary_column() -> None:
    """Binary columns (a passkey's public key and credential id) are in the dump too."""
    user = UserFactory.create()
    WebAuthnCredential.objects.create(
        user=user, credential_id=b"\x01tell-tale-id", public_key=b"\x02tell-tale-key"
    )
    dump = dump_everything()
    assert b"\x01tell-tale-id".hex() in dump and b"\x02tell-tale-key".hex() in dump
