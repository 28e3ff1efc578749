"""Passkey ceremonies for the dashboard tests: the endpoints, and registering a software
authenticator through them."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from accounts.models import User
from tests.authn.dashboard_helpers import sign_in
from tests.authn.mfa.passkey_helpers import SoftAuthenticator

ORIGIN = "http://localhost:8000"
LOGIN_BEGIN = "/accounts/passkeys/login/begin/"
LOGIN_COMPLETE = "/accounts/passkeys/login/complete/"
VERIFY_BEGIN = "/accounts/passkeys/verify/begin/"
VERIFY_COMPLETE = "/accounts/passkeys/verify/complete/"
REGISTER_BEGIN = "/dashboard/security/passkeys/register/begin/"
REGISTER_COMPLETE = "/dashboard/security/passkeys/register/complete/"


def post_json(client: Client, url: str, body: Any = None, **extra: Any) -> Any:
    data = "" if body is None else json.dumps(body)
    return client.post(url, data, content_type="application/json", **extra)


def register(
    user: User, authenticator: SoftAuthenticator, *, client: Client | None = None
) -> dict[str, Any]:
    """Registers `authenticator` for `user` from a fresh password sign-in (or in the signed-in
    `client`); the answer."""
    if client is None:
        client = Client()
        sign_in(client, user)
    options = post_json(client, REGISTER_BEGIN).json()
    response = post_json(client, REGISTER_COMPLETE, authenticator.register(options))
    assert response.status_code == 200, response.content
    return dict(response.json())


def passkeys_on(settings: Any) -> None:
    """Passkeys on, for the test server's origin (an IP address cannot be an RP ID)."""
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [ORIGIN]
    settings.MICRO_PASSKEYS_ENABLED = True


def soft_key() -> SoftAuthenticator:
    return SoftAuthenticator(rp_id="localhost", origin=ORIGIN)
