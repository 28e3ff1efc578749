"""Helpers for the OAuth 2.0 / OpenID Connect tests: clients, PKCE, the authorize step, service
accounts and their client credentials grant."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from django.core.management import call_command
from django.test import Client
from oauth2_provider.models import Application

from accounts.models import User

REDIRECT_URI = "https://client.example/callback"
POST_LOGOUT_URI = "https://client.example/signed-out"
TOKEN_URL = "/o/token/"
AUTHORIZE_URL = "/o/authorize/"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class OAuthClient:
    application: Application
    client_id: str
    client_secret: str

    def credentials(self) -> dict[str, str]:
        return {"client_id": self.client_id, "client_secret": self.client_secret}


def make_client(
    *,
    owner: User | None = None,
    grant_type: str = Application.GRANT_AUTHORIZATION_CODE,
    client_type: str = Application.CLIENT_CONFIDENTIAL,
    redirect_uris: str = REDIRECT_URI,
    name: str = "Test client",
) -> OAuthClient:
    secret = secrets.token_urlsafe(32)
    application = Application.objects.create(
        name=name,
        user=owner,
        client_type=client_type,
        authorization_grant_type=grant_type,
        redirect_uris=redirect_uris if grant_type == Application.GRANT_AUTHORIZATION_CODE else "",
        post_logout_redirect_uris=POST_LOGOUT_URI,
        client_secret=secret,
        algorithm=Application.RS256_ALGORITHM,
    )
    return OAuthClient(application, application.client_id, secret)


def basic(client: OAuthClient) -> str:
    """An `Authorization: Basic` value carrying the client's id and secret."""
    raw = f"{client.client_id}:{client.client_secret}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def authorize_params(client: OAuthClient, challenge: str | None, **extra: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": "openid profile",
        "state": "st-123",
        "nonce": "n-456",
    }
    if challenge is not None:
        params.update(code_challenge=challenge, code_challenge_method="S256")
    params.update(extra)
    return params


def authorize(browser: Client, client: OAuthClient, challenge: str, **extra: str) -> str:
    """Consents on the authorize page as the signed-in `browser`; returns the code."""
    params = authorize_params(client, challenge, **extra)
    page = browser.get(f"{AUTHORIZE_URL}?{urlencode(params)}")
    assert page.status_code == 200, page.content
    form = {**params, "allow": "Authorize"}
    answer = browser.post(AUTHORIZE_URL, form)
    assert answer.status_code == 302, answer.content
    query = parse_qs(urlsplit(answer["Location"]).query)
    assert query["state"] == [params["state"]]
    return query["code"][0]


def exchange(anon: Client, client: OAuthClient, code: str, verifier: str, **extra: str) -> Any:
    return anon.post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
            **client.credentials(),
            **extra,
        },
    )


def refresh(anon: Client, client: OAuthClient, refresh_token: str) -> Any:
    return anon.post(
        TOKEN_URL,
        {"grant_type": "refresh_token", "refresh_token": refresh_token, **client.credentials()},
    )


def code_flow_tokens(browser: Client, client: OAuthClient, **extra: str) -> dict[str, Any]:
    verifier, challenge = pkce_pair()
    code = authorize(browser, client, challenge, **extra)
    response = exchange(Client(), client, code, verifier)
    assert response.status_code == 200, response.content
    return response.json()


def header(token: str) -> dict[str, Any]:
    return jwt.get_unverified_header(token)


def claims(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def ensure_cli_client() -> Application:
    """The `micro-cli` client as migration authn 0007 creates it. Transactional tests (live
    server, browser) flush the database after each test, data migrations included."""
    application, _ = Application.objects.get_or_create(
        client_id="micro-cli",
        defaults={
            "name": "micro command-line client",
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_DEVICE_CODE,
            "algorithm": Application.RS256_ALGORITHM,
        },
    )
    return application


def device_decision(browser: Client, confirm_url: str, action: str = "accept") -> dict[str, str]:
    """The approve form as the confirm page renders it: the action and the grant it shows
    (empty when the page shows none, e.g. to another user)."""
    page = browser.get(confirm_url).content.decode()
    shown = re.search(r'name="device_grant" value="([^"]+)"', page)
    return {"action": action, "device_grant": shown.group(1) if shown else ""}


def create_account(*args: str) -> dict[str, Any]:
    """Runs `createserviceaccount` with `args` and returns what it printed as JSON."""
    out = StringIO()
    call_command("createserviceaccount", *args, "--json", stdout=out)
    return json.loads(out.getvalue().strip().splitlines()[-1])


def token(client_id: str, secret: str, scope: str | None = None, *, basic: bool = True) -> Any:
    """A client credentials grant, the client authenticated by Basic or in the body."""
    body = {"grant_type": "client_credentials"}
    if scope is not None:
        body["scope"] = scope
    if basic:
        credentials = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
        return Client().post(TOKEN_URL, body, HTTP_AUTHORIZATION=f"Basic {credentials}")
    return Client().post(TOKEN_URL, {**body, "client_id": client_id, "client_secret": secret})
