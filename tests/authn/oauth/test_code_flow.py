"""Authorization code + PKCE and refresh rotation, with the refusals of docs/oauth.md."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client
from oauth2_provider.models import AccessToken, Grant, RefreshToken
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from micro_platform.scopes import BUILT_IN_SCOPES
from permissions.models import Scope, Service
from tests.authn.oauth_helpers import (
    AUTHORIZE_URL,
    REDIRECT_URI,
    TOKEN_URL,
    OAuthClient,
    authorize,
    authorize_params,
    claims,
    code_flow_tokens,
    exchange,
    header,
    make_client,
    pkce_pair,
    refresh,
)
from tests.factories import UserFactory


@pytest.fixture
def member(db: Any) -> User:
    return UserFactory.create(username="ada", email="ada@example.com", email_verified=True)


def me(access_token: str) -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access_token}")
    return client.get("/api/v1/me")


def jwks() -> dict[str, Any]:
    return Client().get("/.well-known/jwks.json").json()


def verify_with_jwks(token: str, *, audience: str) -> dict[str, Any]:
    keys = {key["kid"]: key for key in jwks()["keys"]}
    key = jwt.PyJWK(keys[header(token)["kid"]]).key
    return jwt.decode(
        token, key, algorithms=["RS256"], audience=audience, issuer=settings.MICRO_ISSUER
    )


# --- The happy path ------------------------------------------------------------------------


def test_code_flow_issues_a_jwt_access_token_an_id_token_and_a_refresh_token(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client)

    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == settings.MICRO_ACCESS_TOKEN_TTL
    assert set(tokens["scope"].split()) == {"openid", "profile"}
    access = tokens["access_token"]
    assert header(access)["typ"] == "at+jwt"
    access_claims = verify_with_jwks(access, audience=settings.MICRO_TOKEN_AUDIENCE)
    assert access_claims["sub"] == str(member.pk)
    assert access_claims["client_id"] == web_client.client_id
    assert access_claims["scope"] == "profile"
    assert access_claims["username"] == "ada"
    assert access_claims["kind"] == "user"
    assert access_claims["amr"] == ["pwd"]

    id_token = tokens["id_token"]
    assert header(id_token)["typ"] == "JWT"
    id_claims = verify_with_jwks(id_token, audience=web_client.client_id)
    assert id_claims["sub"] == str(member.pk)
    assert id_claims["nonce"] == "n-456"
    assert id_claims["preferred_username"] == "ada"
    assert id_claims["email"] == "ada@example.com"

    answer = me(access)
    assert answer.status_code == 200, answer.content
    assert answer.json()["user"]["username"] == "ada"
    assert answer.json()["auth_method"] == "oauth2"


def test_tokens_are_stored_only_as_digests(browser: Client, web_client: OAuthClient) -> None:
    tokens = code_flow_tokens(browser, web_client)

    stored_access = AccessToken.objects.get()
    stored_refresh = RefreshToken.objects.get()
    assert stored_access.token == "" and stored_refresh.token == ""
    assert len(stored_access.token_checksum) == 64
    assert tokens["refresh_token"] not in stored_refresh.token_checksum


def test_the_authorize_step_needs_the_dashboard_sign_in(web_client: OAuthClient) -> None:
    _, challenge = pkce_pair()
    query = urlencode(authorize_params(web_client, challenge))

    response = Client().get(f"{AUTHORIZE_URL}?{query}")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_scopes_are_narrowed_to_what_the_user_holds(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client, scope="openid profile api_admin")

    assert "api_admin" not in tokens["scope"].split()
    assert "api_admin" not in claims(tokens["access_token"])["scope"].split()


def test_the_consent_page_describes_each_scope_from_the_registry(
    browser: Client, web_client: OAuthClient
) -> None:
    """The words are the registry's: a scope a service registered reads as it described it."""
    service = Service.objects.create(name="billing")
    Scope.objects.create(service=service, name="billing:read", description="Read your invoices.")
    _, challenge = pkce_pair()
    params = authorize_params(web_client, challenge, scope="openid users:read billing:read")

    page = browser.get(AUTHORIZE_URL, params).content.decode()

    assert "<li>Read your invoices.</li>" in page
    assert f"<li>{BUILT_IN_SCOPES['users:read']}</li>" in page
    assert "<li>billing:read</li>" not in page


def test_cancel_on_the_consent_page_answers_access_denied(
    browser: Client, web_client: OAuthClient
) -> None:
    _, challenge = pkce_pair()
    params = authorize_params(web_client, challenge)

    answer = browser.post(AUTHORIZE_URL, params)

    assert answer.status_code == 302
    assert "error=access_denied" in answer["Location"]
    assert not Grant.objects.exists()


def test_openid_alone_signs_in_without_api_scopes(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client, scope="openid")

    assert tokens["scope"] == "openid"
    assert claims(tokens["id_token"])["sub"] == str(member.pk)
    assert claims(tokens["access_token"])["scope"] == ""
    me = APIClient()
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    assert me.get("/api/v1/users?ids=" + str(member.pk)).status_code == 403


def test_oauth_tokens_do_not_claim_a_second_factor(
    browser: Client, web_client: OAuthClient
) -> None:
    access = claims(code_flow_tokens(browser, web_client)["access_token"])
    assert access["amr"] == ["pwd"]
    assert "auth_time" not in access


# --- Exact redirect URI --------------------------------------------------------------------


@pytest.mark.parametrize(
    "redirect_uri",
    [
        REDIRECT_URI + "/",
        REDIRECT_URI + "?next=https://evil.example",
        "https://client.example/callback/../evil",
        "https://evil.example/callback",
        "http://client.example/callback",
    ],
)
def test_a_redirect_uri_that_is_not_registered_exactly_is_refused(
    browser: Client, web_client: OAuthClient, redirect_uri: str
) -> None:
    _, challenge = pkce_pair()
    query = urlencode(authorize_params(web_client, challenge, redirect_uri=redirect_uri))

    response = browser.get(f"{AUTHORIZE_URL}?{query}")

    # Never a redirect to the unregistered address: an error page on the service itself.
    assert response.status_code == 400
    assert not response.has_header("Location")


def test_the_token_request_must_repeat_the_same_redirect_uri(
    browser: Client, web_client: OAuthClient
) -> None:
    verifier, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge)

    response = exchange(Client(), web_client, code, verifier, redirect_uri=REDIRECT_URI + "/")

    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


# --- Single-use codes ----------------------------------------------------------------------


def test_a_reused_code_is_refused_and_revokes_what_it_issued(
    browser: Client, web_client: OAuthClient
) -> None:
    verifier, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge)
    first = exchange(Client(), web_client, code, verifier).json()
    assert me(first["access_token"]).status_code == 200

    second = exchange(Client(), web_client, code, verifier)

    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert me(first["access_token"]).status_code == 401
    assert refresh(Client(), web_client, first["refresh_token"]).json()["error"] == "invalid_grant"
    assert AuditEvent.objects.filter(type="token.reuse_detected").exists()


def test_a_code_is_bound_to_its_client(browser: Client, web_client: OAuthClient) -> None:
    other = make_client(name="Other app")
    verifier, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge)

    stolen = exchange(Client(), other, code, verifier)

    assert stolen.status_code == 400
    assert stolen.json()["error"] == "invalid_grant"
    # The real client can still redeem it: a foreign client's attempt is not a reuse.
    assert exchange(Client(), web_client, code, verifier).status_code == 200


@pytest.mark.django_db(transaction=True, databases="__all__")
def test_two_concurrent_exchanges_of_one_code_issue_nothing_that_lasts(
    member: User, web_client: OAuthClient
) -> None:
    """Single-use codes under a race: one exchange wins, the other is a re-use and revokes it."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks are exercised on PostgreSQL")
    browser = Client()
    browser.force_login(member)
    verifier, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge)
    answers: list[Any] = []
    start = threading.Barrier(2)

    def exchange_once() -> None:
        try:
            start.wait(timeout=10)
            answers.append(exchange(Client(), web_client, code, verifier))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=exchange_once) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200, 400], [answer.content for answer in answers]
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {winner['access_token']}")
    assert api.get("/api/v1/me").status_code == 401


# --- PKCE S256, always ---------------------------------------------------------------------


def test_an_authorization_request_without_a_code_challenge_is_refused(
    browser: Client, web_client: OAuthClient
) -> None:
    query = urlencode(authorize_params(web_client, None))

    response = browser.get(f"{AUTHORIZE_URL}?{query}")

    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert "error=invalid_request" in response["Location"]
        assert "code=" not in response["Location"]


def test_the_plain_challenge_method_is_refused(browser: Client, web_client: OAuthClient) -> None:
    verifier, _ = pkce_pair()
    params = authorize_params(web_client, None, code_challenge=verifier)
    params["code_challenge_method"] = "plain"

    page = browser.get(f"{AUTHORIZE_URL}?{urlencode(params)}")
    if page.status_code == 200:  # refused when the code would be created
        answer = browser.post(AUTHORIZE_URL, {**params, "allow": "Authorize"})
        assert answer.status_code in (302, 400)
        assert "code=" not in answer.get("Location", "")
    else:
        assert "code=" not in page.get("Location", "")
    assert not Grant.objects.exists()


def test_a_wrong_code_verifier_is_refused(browser: Client, web_client: OAuthClient) -> None:
    _, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge)

    response = exchange(Client(), web_client, code, "x" * 64)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


# --- No password or implicit grant ---------------------------------------------------------


def test_the_password_grant_is_unsupported(web_client: OAuthClient, member: User) -> None:
    response = Client().post(
        TOKEN_URL,
        {
            "grant_type": "password",
            "username": member.username,
            "password": "correct horse battery staple",
            **web_client.credentials(),
        },
    )

    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("unsupported_grant_type", "unauthorized_client")
    assert not AccessToken.objects.exists()


def test_the_implicit_response_type_is_unsupported(
    browser: Client, web_client: OAuthClient
) -> None:
    _, challenge = pkce_pair()
    query = urlencode(authorize_params(web_client, challenge, response_type="token"))

    response = browser.get(f"{AUTHORIZE_URL}?{query}")

    location = response.get("Location", "")
    assert "access_token" not in location
    assert response.status_code == 400 or (
        "error=unsupported_response_type" in location or "error=unauthorized_client" in location
    )
    assert not AccessToken.objects.exists()


# --- Refresh rotation with reuse detection -------------------------------------------------


def test_refresh_rotates_and_a_replayed_refresh_token_revokes_the_grant(
    browser: Client, web_client: OAuthClient
) -> None:
    first = code_flow_tokens(browser, web_client)
    rotated = refresh(Client(), web_client, first["refresh_token"])
    assert rotated.status_code == 200, rotated.content
    second = rotated.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert me(second["access_token"]).status_code == 200
    assert me(first["access_token"]).status_code == 401  # rotation ends the old access token

    replay = refresh(Client(), web_client, first["refresh_token"])

    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    assert me(second["access_token"]).status_code == 401
    assert refresh(Client(), web_client, second["refresh_token"]).json()["error"] == (
        "invalid_grant"
    )
    assert AuditEvent.objects.filter(type="token.reuse_detected").exists()


def test_refresh_drops_a_scope_the_user_no_longer_holds(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    member.is_superuser = True
    member.save()
    first = code_flow_tokens(browser, web_client, scope="openid profile users:write")
    assert "users:write" in first["scope"].split()
    member.is_superuser = False
    member.save()

    second = refresh(Client(), web_client, first["refresh_token"]).json()

    assert "users:write" not in second["scope"].split()
    assert "users:write" not in claims(second["access_token"])["scope"].split()


def test_a_deactivated_user_can_no_longer_refresh(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    member.is_active = False
    member.save()

    response = refresh(Client(), web_client, tokens["refresh_token"])

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"
