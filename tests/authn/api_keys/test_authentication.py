"""ApiKeyAuthentication and api_key_credential: allow, deny, anonymous, other schemes."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from accounts.models import User
from authn.api_keys.authentication import ApiKeyAuthentication, api_key_credential
from authn.api_keys.services import api_key_create

factory = APIRequestFactory()


def request_with(**headers: Any) -> Request:
    return Request(factory.get("/api/v1/me", **headers))


def mint(user: User) -> str:
    return api_key_create(
        owner=user, name="t", scopes=["profile"], expires_in_days=1, actor=None
    ).key


@pytest.mark.parametrize("header", ["HTTP_AUTHORIZATION", "HTTP_X_API_KEY"])
def test_valid_key_in_either_header_authenticates(user: User, header: str) -> None:
    raw = mint(user)
    value = f"Bearer {raw}" if header == "HTTP_AUTHORIZATION" else raw
    result = ApiKeyAuthentication().authenticate(request_with(**{header: value}))
    assert result is not None
    principal, auth = result
    assert principal.user_id == user.pk and principal.method == "api_key" and auth is None


def test_no_credential_is_not_ours(db: Any) -> None:
    assert ApiKeyAuthentication().authenticate(request_with()) is None


@pytest.mark.parametrize("authorization", ["Bearer eyJhbGciOi.x.y", "Basic dXNlcjpwYXNz"])
def test_other_schemes_are_left_to_other_classes(db: Any, authorization: str) -> None:
    request = request_with(HTTP_AUTHORIZATION=authorization)
    assert ApiKeyAuthentication().authenticate(request) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_X_API_KEY": "mk_0123456789ab_" + "A" * 43},
        {"HTTP_X_API_KEY": ""},
        {"HTTP_AUTHORIZATION": "Bearer mk_nope"},
    ],
)
def test_bad_keys_are_refused(db: Any, headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationFailed):
        ApiKeyAuthentication().authenticate(request_with(**headers))


def test_inactive_owner_is_refused(user: User) -> None:
    raw = mint(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    with pytest.raises(AuthenticationFailed):
        ApiKeyAuthentication().authenticate(request_with(HTTP_X_API_KEY=raw))


def test_two_credentials_are_ambiguous(user: User) -> None:
    raw = mint(user)
    request = request_with(HTTP_X_API_KEY=raw, HTTP_AUTHORIZATION=f"Bearer {raw}")
    with pytest.raises(AuthenticationFailed):
        api_key_credential(request)


def test_challenge_is_bearer(db: Any) -> None:
    assert ApiKeyAuthentication().authenticate_header(request_with()).startswith("Bearer")
