"""Interoperability: a third-party OAuth 2.0 client library (Authlib) against a live server.

Every grant the provider offers is driven by Authlib's `OAuth2Session` over real HTTP:
authorization code with PKCE, refresh, client credentials and the device grant, plus RFC 7662
introspection, RFC 7009 revocation and ID-token verification with the published JWKS. The
user's side (sign-in, consent, entering the device code) is a plain `requests` session
posting the service's own forms, as a browser would.
"""

from __future__ import annotations

import json
import re
import time
from io import StringIO
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from django.core.management import call_command
from joserfc import jwt as jose_jwt
from joserfc.jwk import KeySet

from accounts.models import User
from tests.authn.oauth_helpers import REDIRECT_URI, OAuthClient, ensure_cli_client, make_client
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.live, pytest.mark.django_db(transaction=True, databases="__all__")]

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@pytest.fixture
def http_cookies(settings: Any) -> None:
    """The live server speaks plain HTTP: cookies without `Secure` (and so without __Host-)."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SESSION_COOKIE_NAME = "sessionid"
    settings.CSRF_COOKIE_NAME = "csrftoken"


@pytest.fixture
def server(live_server: Any, http_cookies: None) -> str:
    return str(live_server.url)


@pytest.fixture
def member(transactional_db: Any) -> User:
    return UserFactory.create(username="interop", email="interop@example.com")


def _shown_grant(page: requests.Response) -> str:
    found = re.search(r'name="device_grant" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def _csrf(page: requests.Response) -> str:
    found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def _hidden_fields(page: requests.Response) -> dict[str, str]:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))


def signed_in_browser(server: str, user: User) -> requests.Session:
    browser = requests.Session()
    login = browser.get(f"{server}/accounts/login/")
    answer = browser.post(
        f"{server}/accounts/login/",
        data={
            "username": user.username,
            "password": DEFAULT_PASSWORD,
            "csrfmiddlewaretoken": _csrf(login),
        },
        headers={"Referer": f"{server}/accounts/login/"},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    return browser


def consent(browser: requests.Session, server: str, authorization_url: str) -> str:
    """Opens the authorize page as the signed-in user and approves; returns the redirect."""
    page = browser.get(authorization_url)
    assert page.status_code == 200, page.text[:500]
    form = {**_hidden_fields(page), "allow": "Authorize"}
    answer = browser.post(
        f"{server}/o/authorize/",
        data=form,
        headers={"Referer": page.url},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    location = answer.headers["Location"]
    assert location.startswith(REDIRECT_URI)
    return location


def discovery(server: str) -> dict[str, Any]:
    document = requests.get(f"{server}/.well-known/openid-configuration", timeout=10).json()
    # The documents name MICRO_ISSUER's host; the live server runs on another port.
    return {
        key: urljoin(server, re.sub(r"^https?://[^/]+", "", value))
        if isinstance(value, str) and value.startswith("http")
        else value
        for key, value in document.items()
    }


@pytest.fixture
def web_client(transactional_db: Any) -> OAuthClient:
    return make_client(name="Interop web app")


def code_flow(server: str, client: OAuthClient, member: User) -> dict[str, Any]:
    endpoints = discovery(server)
    session = OAuth2Session(
        client.client_id,
        client.client_secret,
        scope="openid profile users:read",
        redirect_uri=REDIRECT_URI,
        code_challenge_method="S256",
    )
    verifier = "v" * 20 + "-interop-code-verifier-of-sufficient-length"
    url, state = session.create_authorization_url(
        endpoints["authorization_endpoint"], code_verifier=verifier, nonce="n-1"
    )
    location = consent(signed_in_browser(server, member), server, url)
    token = session.fetch_token(
        endpoints["token_endpoint"], authorization_response=location, code_verifier=verifier
    )
    assert session.token is token
    return {"session": session, "token": token, "endpoints": endpoints}


def test_authorization_code_with_pkce_and_id_token(
    server: str, web_client: OAuthClient, member: User
) -> None:
    flow = code_flow(server, web_client, member)
    token = flow["token"]

    assert token["token_type"] == "Bearer"
    keys = KeySet.import_key_set(requests.get(flow["endpoints"]["jwks_uri"], timeout=10).json())
    id_token = jose_jwt.decode(token["id_token"], keys, algorithms=["RS256"])
    assert id_token.claims["sub"] == str(member.pk)
    assert id_token.claims["aud"] == web_client.client_id
    assert id_token.claims["nonce"] == "n-1"
    me = flow["session"].get(f"{server}/api/v1/me", timeout=10)
    assert me.status_code == 200
    assert me.json()["auth_method"] == "oauth2"
    userinfo = flow["session"].get(flow["endpoints"]["userinfo_endpoint"], timeout=10).json()
    assert userinfo["preferred_username"] == "interop"


def test_refresh_with_rotation(server: str, web_client: OAuthClient, member: User) -> None:
    flow = code_flow(server, web_client, member)
    session, first = flow["session"], dict(flow["token"])

    second = session.refresh_token(flow["endpoints"]["token_endpoint"])

    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert session.get(f"{server}/api/v1/me", timeout=10).status_code == 200


def test_client_credentials(server: str, transactional_db: Any) -> None:
    out = StringIO()
    call_command(
        "createserviceaccount",
        "interop-svc",
        "--scope",
        "users:read",
        "--oauth-client",
        "--json",
        stdout=out,
    )
    account = json.loads(out.getvalue().strip().splitlines()[-1])
    session = OAuth2Session(account["client_id"], account["client_secret"], scope="users:read")

    token = session.fetch_token(
        discovery(server)["token_endpoint"], grant_type="client_credentials"
    )

    assert token["scope"] == "users:read"
    me = session.get(f"{server}/api/v1/me", timeout=10).json()
    assert me["user"]["kind"] == "service"


def test_device_grant(server: str, member: User) -> None:
    ensure_cli_client()
    endpoints = discovery(server)
    started = requests.post(
        endpoints["device_authorization_endpoint"],
        data={"client_id": "micro-cli", "scope": "openid profile"},
        timeout=10,
    ).json()
    session = OAuth2Session("micro-cli", token_endpoint_auth_method="none")
    with pytest.raises(Exception, match="authorization_pending"):
        session.fetch_token(
            endpoints["token_endpoint"], grant_type=DEVICE_GRANT, device_code=started["device_code"]
        )

    browser = signed_in_browser(server, member)
    page = browser.get(urljoin(server, "/o/device/"))
    entered = browser.post(
        page.url,
        data={"user_code": started["user_code"], "csrfmiddlewaretoken": _csrf(page)},
        headers={"Referer": page.url},
    )
    assert entered.status_code == 200 and "Approve" in entered.text
    approved = browser.post(
        entered.url,
        data={
            "action": "accept",
            "csrfmiddlewaretoken": _csrf(entered),
            "device_grant": _shown_grant(entered),
        },
        headers={"Referer": entered.url},
    )
    assert "Device connected" in approved.text

    time.sleep(0.1)
    token = session.fetch_token(
        endpoints["token_endpoint"], grant_type=DEVICE_GRANT, device_code=started["device_code"]
    )
    assert token["refresh_token"]
    assert session.get(f"{server}/api/v1/me", timeout=10).json()["user"]["username"] == "interop"


def test_introspection_and_revocation(server: str, web_client: OAuthClient, member: User) -> None:
    flow = code_flow(server, web_client, member)
    session, endpoints = flow["session"], flow["endpoints"]
    access_token = flow["token"]["access_token"]

    active = session.introspect_token(endpoints["introspection_endpoint"], token=access_token)
    assert active.json()["active"] is True
    assert active.json()["client_id"] == web_client.client_id

    revoked = session.revoke_token(
        endpoints["revocation_endpoint"], token=access_token, token_type_hint="access_token"
    )
    assert revoked.status_code == 200

    after = session.introspect_token(endpoints["introspection_endpoint"], token=access_token)
    assert after.json() == {"active": False}
    assert session.get(f"{server}/api/v1/me", timeout=10).status_code == 401
