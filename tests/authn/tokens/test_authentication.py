"""BearerTokenAuthentication and SessionPrincipalAuthentication: allow, deny, anonymous."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.utils.crypto import get_random_string
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied
from rest_framework.request import Request
from rest_framework.test import APIClient, APIRequestFactory

from accounts.models import User
from authn.sessions.authentication import SessionPrincipalAuthentication
from authn.tokens import revocation
from authn.tokens.authentication import (
    BearerTokenAuthentication,
    bearer_credential,
    principal_from_claims,
)
from authn.tokens.jwt import InvalidAccessToken
from micro_platform.identity import Principal
from tests.authn.helpers import LOGOUT_ALL_URL, ME_URL, forge, valid_claims
from tests.conftest import token_for

factory = APIRequestFactory()
csrf_enforcing_factory = APIRequestFactory(enforce_csrf_checks=True)


def bearer_request(authorization: str | None) -> Request:
    if authorization is None:
        return Request(factory.get(ME_URL))
    return Request(factory.get(ME_URL, HTTP_AUTHORIZATION=authorization))


def session_request(user: Any, method: str = "get") -> Request:
    django_request = getattr(csrf_enforcing_factory, method)(ME_URL)
    django_request.user = user
    return Request(django_request)


# --- bearer_credential (the parser) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc.def.ghi", "abc.def.ghi"),
        ("BEARER abc", "abc"),
        ("Basic dXNlcjpwYXNz", None),
        ("Token abc", None),
        ("Bearerabc", None),
        (None, None),
    ],
)
def test_bearer_credential_parses_only_the_bearer_scheme(header, expected):
    assert bearer_credential(bearer_request(header)) == expected


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Bearer a b", "Bearer a.b.c d.e.f"])
def test_bearer_credential_with_no_or_two_tokens_fails(header):
    with pytest.raises(AuthenticationFailed) as raised:
        bearer_credential(bearer_request(header))

    assert raised.value.get_codes() == "invalid_token"


def test_bearer_credential_with_non_ascii_token_fails():
    request = Request(factory.get(ME_URL, HTTP_AUTHORIZATION="Bearer tök.en.x"))

    with pytest.raises(AuthenticationFailed):
        bearer_credential(request)


# --- principal_from_claims --------------------------------------------------------------------


def test_principal_from_claims_carries_identity_scopes_and_token_ids(user):
    group_id = uuid.uuid4()
    claims = valid_claims(user, groups=[str(group_id)], sid="family-1", scope="profile users:read")

    principal = principal_from_claims(claims)

    assert principal.user_id == user.pk
    assert principal.username == user.username
    assert principal.kind == "user"
    assert principal.group_ids == (group_id,)
    assert principal.scopes == frozenset({"profile", "users:read"})
    assert principal.method == "jwt"
    assert principal.amr == ("pwd",)
    assert principal.jti == claims["jti"]
    assert principal.session_id == "family-1"
    assert principal.expires_at == claims["exp"]


def test_principal_from_claims_reads_the_signed_scopes_without_the_registry(
    user, django_assert_num_queries
):
    """The token names its scopes (checked when it was issued); reading them costs no query,
    and a name this service does not check grants nothing here."""
    with django_assert_num_queries(0):
        principal = principal_from_claims(valid_claims(user, scope="profile billing:read"))

    assert principal.scopes == frozenset({"profile", "billing:read"})
    assert not principal.has_scope("users:read")


def test_principal_from_claims_with_client_id_is_oauth2(user):
    principal = principal_from_claims(valid_claims(user, client_id="cli-123"))

    assert principal.method == "oauth2"
    assert principal.client_id == "cli-123"


@pytest.mark.parametrize(
    "overrides",
    [
        {"sub": "not-a-uuid"},
        {"kind": "admin"},
        {"amr": "pwd"},
        {"groups": "not-a-list"},
        {"groups": ["not-a-uuid"]},
    ],
)
def test_principal_from_claims_rejects_malformed_claims(user, overrides):
    with pytest.raises(InvalidAccessToken):
        principal_from_claims(valid_claims(user, **overrides))


@pytest.mark.parametrize(
    "overrides",
    [{"sub": "not-a-uuid"}, {"kind": "admin"}, {"groups": [1, 2]}, {"scope": ["profile"]}],
)
def test_validly_signed_token_with_malformed_claims_is_a_401(user, overrides):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forge(valid_claims(user, **overrides))}")

    assert client.get(ME_URL).status_code == 401


# --- BearerTokenAuthentication ----------------------------------------------------------------


def test_bearer_authentication_allows_a_valid_access_token(user):
    result = BearerTokenAuthentication().authenticate(bearer_request(f"Bearer {token_for(user)}"))

    assert result is not None
    principal, auth = result
    assert isinstance(principal, Principal)
    assert principal.user_id == user.pk
    assert principal.method == "jwt"
    assert auth is None


def test_bearer_authentication_denies_an_invalid_token(db):
    with pytest.raises(AuthenticationFailed) as raised:
        BearerTokenAuthentication().authenticate(bearer_request("Bearer a.b.c"))

    assert raised.value.get_codes() == "invalid_token"


def test_bearer_authentication_denies_a_revoked_token(user):
    now = int(time.time())
    claims = valid_claims(user, exp=now + 300)
    revocation.revoke_access_token(jti=claims["jti"], exp=claims["exp"])

    with pytest.raises(AuthenticationFailed):
        BearerTokenAuthentication().authenticate(bearer_request(f"Bearer {forge(claims)}"))


def test_bearer_authentication_is_anonymous_without_a_header(db):
    assert BearerTokenAuthentication().authenticate(bearer_request(None)) is None


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Token abc", "Bearer mk_abc_def"])
def test_bearer_authentication_leaves_other_schemes_and_api_keys_to_others(db, header):
    assert BearerTokenAuthentication().authenticate(bearer_request(header)) is None


def test_bearer_authentication_challenge_names_the_bearer_scheme():
    challenge = BearerTokenAuthentication().authenticate_header(bearer_request(None))

    assert challenge.startswith("Bearer")


def test_endpoint_allows_a_valid_bearer_token(user_client, user):
    response = user_client.get(ME_URL)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


def test_endpoint_answers_401_with_challenge_to_basic_auth(user, password):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwYXNz")

    response = client.get(ME_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response["Content-Type"].startswith("application/problem+json")


@pytest.mark.parametrize("header", ["Bearer", "Bearer a.b.c d.e.f"])
def test_endpoint_answers_401_to_a_malformed_bearer_header(user, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header.replace("a.b.c", token_for(user)))

    response = client.get(ME_URL)

    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


def test_endpoint_answers_401_to_anonymous(db):
    response = APIClient().get(ME_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_invalid_bearer_token_is_not_rescued_by_a_valid_session(user, session_client):
    client = session_client(user)
    client.credentials(HTTP_AUTHORIZATION="Bearer a.b.c")

    assert client.get(ME_URL).status_code == 401


# --- SessionPrincipalAuthentication -----------------------------------------------------------


def test_session_authentication_allows_a_signed_in_user(user):
    result = SessionPrincipalAuthentication().authenticate(session_request(user))

    assert result is not None
    principal, auth = result

    assert isinstance(principal, Principal)
    assert principal.user_id == user.pk
    assert principal.method == "session"
    assert "profile" in principal.scopes
    assert auth is None


def test_session_authentication_denies_unsafe_method_without_csrf(user):
    with pytest.raises(PermissionDenied):
        SessionPrincipalAuthentication().authenticate(session_request(user, "post"))


def test_session_authentication_is_anonymous_without_a_session(db):
    assert SessionPrincipalAuthentication().authenticate(session_request(AnonymousUser())) is None


def test_session_authentication_ignores_an_inactive_user(user):
    User.objects.filter(pk=user.pk).update(is_active=False)
    user.refresh_from_db()

    assert SessionPrincipalAuthentication().authenticate(session_request(user)) is None


def test_endpoint_allows_a_session_for_safe_methods(user, session_client):
    response = session_client(user).get(ME_URL)

    assert response.status_code == 200
    assert response.json()["auth_method"] == "session"


def test_endpoint_refuses_session_post_without_csrf_token(user, session_client):
    client = session_client(user)

    response = client.post(LOGOUT_ALL_URL)

    assert response.status_code == 403
    assert client.get(ME_URL).status_code == 200  # nothing was revoked


def test_endpoint_allows_session_post_with_csrf_token(user, session_client):
    client = session_client(user)
    csrf = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf

    response = client.post(LOGOUT_ALL_URL, HTTP_X_CSRFTOKEN=csrf)

    assert response.status_code == 204
    assert client.get(ME_URL).status_code in (401, 403)


def test_endpoint_refuses_session_post_with_a_wrong_csrf_token(user, session_client):
    client = session_client(user)
    client.cookies[settings.CSRF_COOKIE_NAME] = get_random_string(32)

    response = client.post(LOGOUT_ALL_URL, HTTP_X_CSRFTOKEN=get_random_string(32))

    assert response.status_code == 403


def test_session_of_a_deactivated_user_is_refused(user, session_client):
    client = session_client(user)
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert client.get(ME_URL).status_code == 401
