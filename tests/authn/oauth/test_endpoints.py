"""Discovery, JWKS, introspection, revocation, userinfo and logout of the OAuth 2.0 provider."""

from __future__ import annotations

import base64
from datetime import timedelta
from io import StringIO
from typing import Any
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from authn.api_keys.services import api_key_create
from authn.credentials.services import user_credentials_revoke
from authn.models import OAuthCodeUse
from authn.tokens import revocation
from tests.authn.oauth_helpers import (
    DEVICE_GRANT,
    POST_LOGOUT_URI,
    TOKEN_URL,
    OAuthClient,
    authorize,
    basic,
    claims,
    code_flow_tokens,
    device_decision,
    ensure_cli_client,
    exchange,
    make_client,
    pkce_pair,
    refresh,
)
from tests.conftest import token_for
from tests.factories import UserFactory


@pytest.fixture
def member(db: Any) -> User:
    return UserFactory.create(username="lin", email="lin@example.com")


def userinfo(token: str) -> Any:
    return Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {token}")


def introspect(client: OAuthClient, token: str) -> Any:
    return Client().post("/o/introspect/", {"token": token}, HTTP_AUTHORIZATION=basic(client))


def revoke(client: OAuthClient, token: str, hint: str | None = None) -> Any:
    body = {"token": token, **client.credentials()}
    if hint:
        body["token_type_hint"] = hint
    return Client().post("/o/revoke_token/", body)


def me_status(token: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return api.get("/api/v1/me").status_code


# --- Discovery and keys ---------------------------------------------------------------------


def test_discovery_names_the_issuer_every_endpoint_and_s256_only(db: Any) -> None:
    document = Client().get("/.well-known/openid-configuration").json()
    issuer = settings.MICRO_ISSUER

    assert document["issuer"] == issuer
    assert document["jwks_uri"] == f"{issuer}/.well-known/jwks.json"
    assert document["authorization_endpoint"] == f"{issuer}/o/authorize/"
    assert document["token_endpoint"] == f"{issuer}/o/token/"
    assert document["userinfo_endpoint"] == f"{issuer}/o/userinfo/"
    assert document["revocation_endpoint"] == f"{issuer}/o/revoke_token/"
    assert document["introspection_endpoint"] == f"{issuer}/o/introspect/"
    assert document["device_authorization_endpoint"] == f"{issuer}/o/device-authorization/"
    assert document["end_session_endpoint"] == f"{issuer}/o/logout/"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert set(document["grant_types_supported"]) == {
        "authorization_code",
        "refresh_token",
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:device_code",
    }
    assert "password" not in document["grant_types_supported"]
    assert {"openid", "profile", "users:read", "api_admin"} <= set(document["scopes_supported"])
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]
    assert "preferred_username" in document["claims_supported"]


def test_the_toolkit_discovery_path_serves_the_same_document(db: Any) -> None:
    root = Client().get("/.well-known/openid-configuration").json()
    under_o = Client().get("/o/.well-known/openid-configuration").json()
    assert root == under_o


def test_one_key_set_for_every_token(db: Any) -> None:
    assert Client().get("/.well-known/jwks.json").json() == (
        Client().get("/o/.well-known/jwks.json").json()
    )


# --- Introspection (RFC 7662) ---------------------------------------------------------------


def test_introspection_answers_for_oauth_tokens(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client)

    answer = introspect(web_client, tokens["access_token"]).json()

    assert answer["active"] is True
    assert answer["sub"] == str(member.pk)
    assert answer["client_id"] == web_client.client_id
    assert answer["username"] == "lin"
    assert answer["scope"] == "profile"
    assert answer["iss"] == settings.MICRO_ISSUER
    assert answer["exp"] > answer["iat"]


def test_introspection_answers_for_the_api_tokens_and_api_keys(
    web_client: OAuthClient, member: User
) -> None:
    jwt_answer = introspect(web_client, token_for(member)).json()
    assert jwt_answer["active"] is True and jwt_answer["sub"] == str(member.pk)
    assert "client_id" not in jwt_answer

    key = api_key_create(owner=member, name="ci", scopes=["profile"], actor=None).key
    key_answer = introspect(web_client, key).json()
    assert key_answer["active"] is True
    assert key_answer["token_type"] == "api_key"
    assert key_answer["scope"] == "profile"


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "mk_0123456789ab_nope", "x" * 9000])
def test_introspection_of_anything_else_is_inactive(web_client: OAuthClient, token: str) -> None:
    answer = introspect(web_client, token)
    assert answer.status_code == 200
    assert answer.json() == {"active": False}


def test_introspection_needs_client_authentication(web_client: OAuthClient, member: User) -> None:
    anonymous = Client().post("/o/introspect/", {"token": token_for(member)})
    wrong = Client().post(
        "/o/introspect/",
        {"token": token_for(member)},
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(b"nobody:nothing").decode(),
    )
    # A user's own access token is not a licence to introspect.
    as_user = Client().post(
        "/o/introspect/",
        {"token": token_for(member)},
        HTTP_AUTHORIZATION=f"Bearer {token_for(member)}",
    )
    for response in (anonymous, wrong, as_user):
        assert response.status_code in (401, 403)
        assert b"active" not in response.content


def test_introspection_by_get_is_refused(web_client: OAuthClient, member: User) -> None:
    response = Client().get(
        "/o/introspect/", {"token": token_for(member)}, HTTP_AUTHORIZATION=basic(web_client)
    )
    assert response.status_code == 405


# --- Revocation (RFC 7009) ------------------------------------------------------------------


def test_revoking_an_access_token_takes_effect_at_once(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    assert me_status(tokens["access_token"]) == 200

    assert revoke(web_client, tokens["access_token"], "access_token").status_code == 200

    assert me_status(tokens["access_token"]) == 401
    assert introspect(web_client, tokens["access_token"]).json() == {"active": False}
    # RFC 7009 §2.1: the refresh token bound to it goes too.
    assert refresh(Client(), web_client, tokens["refresh_token"]).status_code == 400


def test_revoking_a_refresh_token_ends_the_grant(browser: Client, web_client: OAuthClient) -> None:
    tokens = code_flow_tokens(browser, web_client)

    assert revoke(web_client, tokens["refresh_token"], "refresh_token").status_code == 200

    assert refresh(Client(), web_client, tokens["refresh_token"]).json()["error"] == (
        "invalid_grant"
    )
    assert me_status(tokens["access_token"]) == 401


def test_a_client_cannot_revoke_another_clients_token(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    other = make_client(name="Other")

    assert revoke(other, tokens["access_token"]).status_code == 200  # RFC 7009: no disclosure

    assert me_status(tokens["access_token"]) == 200


def test_the_api_revocation_endpoint_also_ends_an_oauth_access_token(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    api = APIClient()

    response = api.post(
        "/api/v1/auth/token/revoke", {"token": tokens["access_token"]}, format="json"
    )

    assert response.status_code == 200
    assert me_status(tokens["access_token"]) == 401


def test_ending_a_users_sign_ins_ends_their_oauth_grants(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client)

    user_credentials_revoke(user=member)

    assert me_status(tokens["access_token"]) == 401
    assert refresh(Client(), web_client, tokens["refresh_token"]).status_code == 400


def test_deleting_a_client_revokes_its_tokens(browser: Client, web_client: OAuthClient) -> None:
    tokens = code_flow_tokens(browser, web_client)

    web_client.application.delete()

    assert me_status(tokens["access_token"]) == 401


def test_an_id_token_is_not_an_access_token(browser: Client, web_client: OAuthClient) -> None:
    tokens = code_flow_tokens(browser, web_client)
    assert me_status(tokens["id_token"]) == 401


def test_the_api_revoke_endpoint_ends_the_oauth_grant_everywhere(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    assert userinfo(tokens["access_token"]).status_code == 200

    APIClient().post("/api/v1/auth/token/revoke", {"token": tokens["access_token"]}, format="json")

    assert userinfo(tokens["access_token"]).status_code == 401
    assert refresh(Client(), web_client, tokens["refresh_token"]).status_code == 400


def test_userinfo_refuses_a_token_whose_user_was_revoked(
    browser: Client, web_client: OAuthClient, member: User
) -> None:

    tokens = code_flow_tokens(browser, web_client)
    revocation.revoke_subject(user_id=str(member.pk))

    response = userinfo(tokens["access_token"])

    assert response.status_code == 401
    assert "invalid_token" in response["WWW-Authenticate"]


def test_ending_sign_ins_also_voids_a_pending_code_and_an_approved_device(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    ensure_cli_client()
    verifier, challenge = pkce_pair()
    code = authorize(browser, web_client, challenge)

    started = (
        Client()
        .post(
            "/o/device-authorization/",
            urlencode({"client_id": "micro-cli", "scope": "profile"}),
            content_type="application/x-www-form-urlencoded",
        )
        .json()
    )
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    browser.post(entered["Location"], device_decision(browser, entered["Location"]))

    user_credentials_revoke(user=member)

    assert exchange(Client(), web_client, code, verifier).status_code == 400
    polled = Client().post(
        TOKEN_URL,
        {
            "grant_type": DEVICE_GRANT,
            "device_code": started["device_code"],
            "client_id": "micro-cli",
        },
    )
    assert polled.status_code == 400
    assert "access_token" not in polled.json()


# --- userinfo and logout --------------------------------------------------------------------


def test_userinfo_returns_the_claims_the_scopes_release(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client)

    response = Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["sub"] == str(member.pk)
    assert body["preferred_username"] == "lin"
    assert body["email"] == "lin@example.com"


def test_userinfo_without_profile_releases_only_the_subject(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client, scope="openid users:read")

    body = (
        Client().get("/o/userinfo/", HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}").json()
    )

    assert body == {"sub": str(member.pk)}


def test_rp_initiated_logout_ends_the_dashboard_session(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    page = browser.get("/o/logout/", {"id_token_hint": tokens["id_token"]})
    assert page.status_code == 200, page.content

    response = browser.post(
        "/o/logout/",
        {
            "id_token_hint": tokens["id_token"],
            "client_id": web_client.client_id,
            "post_logout_redirect_uri": POST_LOGOUT_URI,
            "state": "bye",
            "allow": "1",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == f"{POST_LOGOUT_URI}?state=bye"
    assert browser.get("/dashboard/").status_code == 302  # signed out
    assert me_status(tokens["access_token"]) == 401  # and the client's tokens are gone


def test_logout_refuses_an_unregistered_redirect(browser: Client, web_client: OAuthClient) -> None:
    tokens = code_flow_tokens(browser, web_client)

    response = browser.get(
        "/o/logout/",
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "https://evil.example/",
        },
    )

    assert response.status_code == 400
    assert not response.has_header("Location")


@pytest.mark.parametrize("query", [{"client_id": "zzz"}, {"id_token_hint": "not.a.jwt"}])
def test_logout_with_bad_input_answers_400(db: Any, query: dict[str, str]) -> None:
    response = Client().get("/o/logout/", query)
    assert response.status_code == 400


def test_cleanup_expired_sweeps_oauth_state(browser: Client, web_client: OAuthClient) -> None:
    code_flow_tokens(browser, web_client)
    OAuthCodeUse.objects.update(expires_at=timezone.now() - timedelta(days=1))
    out = StringIO()

    call_command("cleanup_expired", stdout=out)

    assert "OAuth code records: 1 deleted" in out.getvalue()
    assert not OAuthCodeUse.objects.exists()


def test_administrators_manage_every_client_in_the_admin(
    web_client: OAuthClient, admin_user: User
) -> None:
    admin = Client()
    admin.force_login(admin_user)

    listing = admin.get("/admin/oauth2_provider/application/", secure=True)
    assert listing.status_code == 200
    assert b"Web app" in listing.content
    assert b"micro command-line client" in listing.content

    page = admin.get(
        f"/admin/oauth2_provider/application/{web_client.application.pk}/change/", secure=True
    )
    assert page.status_code == 200
    assert web_client.client_secret.encode() not in page.content


@pytest.mark.parametrize("scope", ["openid email", "openid email profile"])
def test_the_email_scope_releases_the_address_in_the_id_token_and_userinfo(
    browser: Client, web_client: OAuthClient, member: User, scope: str
) -> None:
    tokens = code_flow_tokens(browser, web_client, scope=scope)

    assert set(tokens["scope"].split()) == set(scope.split())
    id_token = claims(tokens["id_token"])
    assert (id_token["email"], id_token["email_verified"]) == ("lin@example.com", False)
    info = userinfo(tokens["access_token"]).json()
    assert (info["email"], info["email_verified"]) == ("lin@example.com", False)


def test_the_id_token_says_how_the_person_signed_in(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client)

    id_token = claims(tokens["id_token"])
    assert id_token["amr"] == claims(tokens["access_token"])["amr"] == ["pwd"]
    assert "idp" not in id_token


def test_without_email_or_profile_the_address_is_not_released(
    browser: Client, web_client: OAuthClient, member: User
) -> None:
    tokens = code_flow_tokens(browser, web_client, scope="openid")

    assert "email" not in claims(tokens["id_token"])
    assert "email" not in userinfo(tokens["access_token"]).json()


def test_discovery_lists_the_email_scope(db: Any) -> None:
    document = Client().get("/.well-known/openid-configuration").json()

    assert {"openid", "email", "profile"} <= set(document["scopes_supported"])
