"""Gateway forward-auth `/api/v1/auth/verify` (docs/gateway.md)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.db import connection
from django.db.utils import OperationalError
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import User
from authn.api_keys.services import api_key_create, api_key_revoke
from authn.credentials.services import token_revoke
from authn.gateway.apis import user_tokens
from authn.tokens import revocation
from authn.tokens.authentication import principal_from_claims, verified_tokens
from authn.tokens.jwt import upstream_token_decode
from authn.tokens.signing_keys import key_ring
from micro_platform.health import database_liveness
from tests.authn.helpers import profile_token
from tests.conftest import token_for
from tests.factories import GroupFactory, MembershipFactory, ServiceAccountFactory
from tests.platform.helpers import DEAD_REDIS

VERIFY = "/api/v1/auth/verify"
METHODS = ["get", "post", "put", "patch", "delete", "head", "options"]
IDENTITY_HEADERS = (
    "X-User-Id",
    "X-User-Name",
    "X-User-Kind",
    "X-User-Scopes",
    "X-User-Groups",
    "X-Auth-Method",
    "X-User-Token",
)


@pytest.fixture(autouse=True)
def _fresh_user_tokens() -> Iterator[None]:
    user_tokens.clear()
    verified_tokens.clear()
    yield
    user_tokens.clear()
    verified_tokens.clear()


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def mint_key(owner: User, scopes: tuple[str, ...] = ("users:read",)) -> Any:
    return api_key_create(owner=owner, name="gw", scopes=scopes, expires_in_days=1, actor=None)


def call(method: str, headers: dict[str, str], path: str = VERIFY) -> Any:
    return getattr(APIClient(), method)(path, **headers)


@pytest.mark.parametrize("method", METHODS)
def test_valid_jwt_gets_identity_headers_on_every_method(user: User, method: str) -> None:
    group = GroupFactory.create()
    MembershipFactory.create(group=group, user=user)
    response = call(method, bearer(token_for(user, frozenset({"profile", "users:read"}))))
    assert response.status_code == 200
    assert response["X-User-Id"] == str(user.pk)
    assert response["X-User-Name"] == user.username
    assert response["X-User-Kind"] == "user"
    assert response["X-User-Scopes"] == "profile users:read"
    assert response["X-User-Groups"] == str(group.pk)
    assert response["X-Auth-Method"] == "jwt"
    assert response["Cache-Control"] == "no-store"


def test_user_token_is_a_short_lived_jwt_of_the_same_identity(user: User) -> None:
    response = call("get", bearer(token_for(user, frozenset({"users:read"}))))
    user_token = response["X-User-Token"]
    principal = principal_from_claims(upstream_token_decode(user_token))
    assert principal.user_id == user.pk and principal.scopes == frozenset({"users:read"})
    claims = jwt.decode(user_token, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] <= 60
    assert claims["aud"] == settings.MICRO_UPSTREAM_TOKEN_AUDIENCE
    assert jwt.get_unverified_header(user_token)["kid"] == key_ring.signing_key()[0]
    assert jwt.get_unverified_header(user_token)["typ"] == "user+jwt"
    # The caller's methods (a password sign-in here) only as src_amr: amr never says pwd.
    assert claims["amr"] == [] and claims["src_amr"] == ["pwd"]


def test_user_token_is_reused_for_the_same_principal_but_not_across_identities(
    user: User, other_user: User
) -> None:
    token = token_for(user)
    first = call("get", bearer(token))["X-User-Token"]
    assert call("get", bearer(token))["X-User-Token"] == first
    assert call("get", bearer(token_for(other_user)))["X-User-Token"] != first


def test_user_token_never_outlives_the_credential(user: User) -> None:
    short = profile_token(user, lifetime=5)
    claims = jwt.decode(
        call("get", bearer(short))["X-User-Token"], options={"verify_signature": False}
    )
    assert claims["exp"] <= jwt.decode(short, options={"verify_signature": False})["exp"]


def test_api_key_in_either_header_gets_identity_headers(user: User) -> None:
    minted = mint_key(user)
    for headers in (bearer(minted.key), {"HTTP_X_API_KEY": minted.key}):
        response = call("get", headers)
        assert response.status_code == 200
        assert response["X-Auth-Method"] == "api_key"
        assert response["X-User-Scopes"] == "users:read"
        assert response["X-User-Id"] == str(user.pk)


def test_session_cookie_is_accepted(user: User, session_client: Callable[..., APIClient]) -> None:
    response = session_client(user).get(VERIFY)
    assert response.status_code == 200
    assert response["X-Auth-Method"] == "session"


def test_service_account_kind_is_reported(db: Any) -> None:
    service = ServiceAccountFactory.create(scopes=["users:read"])
    response = call("get", bearer(token_for(service)))
    assert response["X-User-Kind"] == "service"


@pytest.mark.parametrize("method", METHODS)
def test_anonymous_is_401_with_challenge_and_no_identity(db: Any, method: str) -> None:
    response = call(method, {})
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not any(name in response for name in IDENTITY_HEADERS)


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Bearer garbage"},
        {"HTTP_AUTHORIZATION": "Bearer " + "a" * 65_536},
        {"HTTP_AUTHORIZATION": "Bearer mk_0123456789ab_" + "A" * 43},
        {"HTTP_X_API_KEY": "not-a-key"},
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
    ],
)
def test_invalid_credentials_are_401(db: Any, headers: dict[str, str]) -> None:
    response = call("get", headers)
    assert response.status_code == 401
    assert "X-User-Id" not in response


def test_two_credentials_at_once_are_refused(user: User) -> None:
    minted = mint_key(user)
    response = call("get", {**bearer(token_for(user)), "HTTP_X_API_KEY": minted.key})
    assert response.status_code == 401


def test_client_sent_identity_headers_are_ignored(user: User, other_user: User) -> None:
    spoof = {
        "HTTP_X_USER_ID": str(other_user.pk),
        "HTTP_X_USER_NAME": other_user.username,
        "HTTP_X_USER_SCOPES": "api_admin",
        "HTTP_X_USER_KIND": "service",
        "HTTP_X_AUTH_METHOD": "session",
    }
    assert call("get", spoof).status_code == 401
    response = call("get", {**bearer(token_for(user, frozenset({"profile"}))), **spoof})
    assert response["X-User-Id"] == str(user.pk)
    assert response["X-User-Scopes"] == "profile"
    forbidden = call(
        "get",
        {**bearer(token_for(user, frozenset({"profile"}))), **spoof},
        path=f"{VERIFY}?scope=api_admin",
    )
    assert forbidden.status_code == 403


def test_required_scopes_from_query_and_header(user: User) -> None:
    headers = bearer(token_for(user, frozenset({"profile", "users:read"})))
    assert call("get", headers, f"{VERIFY}?scope=profile+users:read").status_code == 200
    assert call("get", headers, f"{VERIFY}?scope=users:read").status_code == 200
    denied = call("get", headers, f"{VERIFY}?scope=profile+users:write")
    assert denied.status_code == 403
    assert denied.json()["code"] == "insufficient_scope"
    assert "X-User-Id" not in denied
    by_header = call("get", {**headers, "HTTP_X_REQUIRED_SCOPES": "objects:write"})
    assert by_header.status_code == 403


def test_api_admin_satisfies_any_required_scope(admin_user: User) -> None:
    headers = bearer(token_for(admin_user, frozenset({"api_admin"})))
    assert call("get", headers, f"{VERIFY}?scope=users:write+objects:write").status_code == 200


def test_unknown_required_scope_is_a_403(user: User) -> None:
    response = call("get", bearer(token_for(user)), f"{VERIFY}?scope=root")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "invalid_scope"


def test_jwt_verify_runs_no_database_query(user: User, settings: Any) -> None:
    settings.MICRO_SIGNING_KEY_REFRESH_SECONDS = 3600
    settings.MICRO_DATABASE_CHECK_SECONDS = 3600  # the per-process liveness check, warmed below
    token = token_for(user)
    call("get", bearer(token))  # warms the key ring and the revocation sentinel
    with CaptureQueriesContext(connection) as queries:
        response = call("get", bearer(token), f"{VERIFY}?scope=profile")
    assert response.status_code == 200
    assert len(queries) == 0, [query["sql"] for query in queries.captured_queries]


def test_api_key_verify_runs_no_database_query_on_a_cache_hit(user: User, settings: Any) -> None:
    settings.MICRO_SIGNING_KEY_REFRESH_SECONDS = 3600
    settings.MICRO_DATABASE_CHECK_SECONDS = 3600
    minted = mint_key(user)
    call("get", bearer(minted.key))
    with CaptureQueriesContext(connection) as queries:
        response = call("get", {"HTTP_X_API_KEY": minted.key})
    assert response.status_code == 200
    assert len(queries) == 0, [query["sql"] for query in queries.captured_queries]


def fail_every_query(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
    raise OperationalError("server closed the connection unexpectedly")


def test_database_down_denies_api_key_with_503(user: User) -> None:
    minted = mint_key(user)
    with connection.execute_wrapper(fail_every_query):
        response = call("get", bearer(minted.key))
    assert response.status_code == 503
    assert response.json()["code"] == "dependency_unavailable"
    assert "X-User-Id" not in response


def test_database_down_denies_even_a_jwt_checked_without_it(user: User, settings: Any) -> None:
    """A JWT needs no query, but the verify still fails closed (503) once the
    per-process liveness check finds the database down."""
    settings.MICRO_DATABASE_CHECK_SECONDS = 3600
    token = token_for(user)
    assert call("get", bearer(token)).status_code == 200
    database_liveness.forget()  # as when the check interval has passed

    with connection.execute_wrapper(fail_every_query):
        response = call("get", bearer(token))
        again = call("get", bearer(token))

    assert response.status_code == again.status_code == 503
    assert response.json()["code"] == "dependency_unavailable"
    assert "X-User-Id" not in response
    assert call("get", bearer(token)).status_code == 200  # back as soon as it answers


def test_the_liveness_check_costs_one_query_per_interval(user: User, settings: Any) -> None:
    settings.MICRO_SIGNING_KEY_REFRESH_SECONDS = 3600
    settings.MICRO_DATABASE_CHECK_SECONDS = 3600
    token = token_for(user)
    call("get", bearer(token))
    database_liveness.forget()

    with CaptureQueriesContext(connection) as queries:
        for _ in range(5):
            assert call("get", bearer(token)).status_code == 200

    assert [query["sql"] for query in queries.captured_queries] == ["SELECT 1"]


def test_database_down_denies_session_with_503(
    user: User, session_client: Callable[..., APIClient]
) -> None:
    client = session_client(user)
    with connection.execute_wrapper(fail_every_query):
        response = client.get(VERIFY)
    assert response.status_code == 503


def test_unreachable_cache_denies_with_503(user: User) -> None:
    minted = mint_key(user)
    for headers in (bearer(token_for(user)), bearer(minted.key)):
        with override_settings(CACHES=DEAD_REDIS):
            response = call("get", headers)
        assert response.status_code == 503
        assert "X-User-Id" not in response


def test_revoked_access_token_is_denied_on_the_next_call(user: User) -> None:
    token = token_for(user)
    assert call("get", bearer(token)).status_code == 200
    token_revoke(raw=token, actor=None, ip_address=None)
    assert call("get", bearer(token)).status_code == 401


def test_revoked_sign_in_family_is_denied_on_the_next_call(user: User) -> None:
    family = str(uuid.uuid4())
    token = profile_token(user, session_id=family)
    assert call("get", bearer(token)).status_code == 200
    revocation.revoke_families(family_ids=[family])
    assert call("get", bearer(token)).status_code == 401


def test_deactivated_user_is_denied_on_the_next_call(
    user: User, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    from accounts.principals import principal_for_user

    minted = mint_key(user)
    token = token_for(user)
    assert call("get", bearer(minted.key)).status_code == 200
    assert call("get", bearer(token)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        account_services.user_deactivate(
            actor=principal_for_user(admin_user, method="jwt"), user=user
        )
    assert call("get", bearer(minted.key)).status_code == 401
    assert call("get", bearer(token)).status_code == 401


def test_revoked_api_key_is_denied_on_the_next_call(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    minted = mint_key(user)
    assert call("get", bearer(minted.key)).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=minted.api_key, actor=None)
    assert call("get", bearer(minted.key)).status_code == 401


def test_memoized_token_is_refused_once_expired(user: User) -> None:
    token = profile_token(user, lifetime=2)  # `exp` is whole seconds: 1-2 s from now
    assert call("get", bearer(token)).status_code == 200
    time.sleep(2.1)
    assert call("get", bearer(token)).status_code == 401


def test_memoized_token_is_refused_once_its_signing_key_is_gone(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = token_for(user)
    assert call("get", bearer(token)).status_code == 200
    monkeypatch.setattr(key_ring, "verifying_key", lambda kid: None)
    assert call("get", bearer(token)).status_code == 401


def test_memo_never_answers_for_other_bytes(user: User) -> None:
    token = token_for(user)
    assert call("get", bearer(token)).status_code == 200
    header, payload, signature = token.split(".")
    tampered = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert call("get", bearer(tampered)).status_code == 401
