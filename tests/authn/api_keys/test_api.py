"""`/api/v1/api-keys` and `/api/v1/auth/token/exchange` (docs/api-keys.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys.services import api_key_create, api_key_revoke
from authn.models import ApiKey
from authn.tokens.authentication import principal_from_access_token
from tests.authn.api_keys.helpers import (
    EXCHANGE,
    MACHINE_CREDENTIALS,
    assert_refused_as_machine,
    key_client,
    machine_client,
    mint,
)
from tests.authn.helpers import forge, valid_claims
from tests.authn.oauth_helpers import code_flow_tokens, make_client
from tests.factories import ServiceAccountFactory

KEYS = "/api/v1/api-keys"
ME = "/api/v1/me"
# `resource`: the service a key is bound to, or null (an unbound key).
MINTED_FIELDS = {"id", "name", "prefix", "key", "scopes", "created_at", "expires_at", "resource"}
LISTED_FIELDS = {
    "id",
    "name",
    "prefix",
    "scopes",
    "created_at",
    "expires_at",
    "last_used_at",
    "revoked_at",
    "resource",
}


# --- POST /api-keys ---------------------------------------------------------------------------


def test_create_returns_the_key_once_with_the_spec_fields(
    user_client: APIClient, user: User
) -> None:
    response = user_client.post(
        KEYS, {"name": "ci", "scopes": ["users:read"], "expires_in_days": 30}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == MINTED_FIELDS
    assert body["key"].startswith(f"mk_{body['prefix']}_")
    assert response["Cache-Control"] == "no-store"
    listed = user_client.get(KEYS).json()["results"]
    assert set(listed[0]) == LISTED_FIELDS
    assert body["key"] not in str(listed)
    assert key_client(body["key"]).get(ME).status_code == 200


def test_create_defaults_to_90_days(user_client: APIClient) -> None:
    body = user_client.post(KEYS, {"name": "ci", "scopes": ["profile"]}, format="json").json()
    key = ApiKey.objects.get(pk=body["id"])
    assert round((key.expires_at - key.created_at).total_seconds() / 86400) == 90


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "x", "scopes": ["users:write"]}, "scopes"),
        ({"name": "x", "scopes": ["nope"]}, "scopes"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "x", "scopes": "profile"}, "scopes"),
        ({"name": "x", "scopes": ["profile"], "expires_in_days": 0}, "expires_in_days"),
        ({"name": "x", "scopes": ["profile"], "expires_in_days": 366}, "expires_in_days"),
        ({"name": "x", "scopes": ["profile"], "expires_in_days": "soon"}, "expires_in_days"),
        ({"name": "", "scopes": ["profile"]}, "name"),
        ({"scopes": ["profile"]}, "name"),
        ({"name": "x", "scopes": ["profile"], "owner_id": "someone"}, "owner_id"),
    ],
)
def test_create_bad_input_is_a_400_problem(
    user_client: APIClient, payload: dict[str, Any], field: str
) -> None:
    response = user_client.post(KEYS, payload, format="json")
    # A scope the credential does not hold (unknown ones included) is a 403 `invalid_scope`.
    refused = payload.get("scopes") == ["users:write"]
    assert response.status_code == (403 if refused else 400)
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert not ApiKey.objects.exists()


def test_create_cannot_exceed_the_calling_credential(
    client_for: Callable[..., APIClient], user: User
) -> None:
    client = client_for(user, frozenset({"profile"}))
    response = client.post(KEYS, {"name": "x", "scopes": ["users:read"]}, format="json")
    assert response.status_code == 403
    assert "scopes" in response.json()["errors"]


def test_managing_keys_needs_the_profile_scope(
    client_for: Callable[..., APIClient], user: User
) -> None:
    existing = mint(user, ("users:read",))
    client = client_for(user, frozenset({"users:read"}))
    assert client.get(KEYS).status_code == 403
    assert (
        client.post(KEYS, {"name": "x", "scopes": ["users:read"]}, format="json").status_code == 403
    )
    assert client.delete(f"{KEYS}/{existing.api_key.pk}").status_code == 403
    rotate = client.post(f"{KEYS}/{existing.api_key.pk}/rotate", {"grace_hours": 1}, format="json")
    assert rotate.status_code == 403
    existing.api_key.refresh_from_db()
    assert existing.api_key.revoked_at is None


@pytest.mark.parametrize("via", MACHINE_CREDENTIALS)
def test_a_machine_credential_cannot_mint_keys(user: User, via: str) -> None:
    """A leaked key or client secret must not leave behind a credential that outlives it or its
    revocation: minting needs a person's sign-in (`pwd` in `amr`)."""
    parent = mint(user, ("profile", "users:read"))
    client = machine_client(user, parent, via)
    before = set(ApiKey.objects.values_list("pk", flat=True))
    response = client.post(KEYS, {"name": "x", "scopes": ["users:read"]}, format="json")
    assert_refused_as_machine(response, via)
    assert set(ApiKey.objects.values_list("pk", flat=True)) == before


@pytest.mark.parametrize("via", MACHINE_CREDENTIALS[:3])
def test_a_machine_credential_cannot_rotate_keys_not_even_its_own(user: User, via: str) -> None:
    """A key rotating itself would hand its holder a successor that revoking the leaked key
    does not end."""
    parent = mint(user, ("profile", "users:read"))
    client = machine_client(user, parent, via)
    response = client.post(f"{KEYS}/{parent.api_key.pk}/rotate", {"grace_hours": 0}, format="json")
    assert_refused_as_machine(response, via)
    assert list(ApiKey.objects.values_list("pk", flat=True)) == [parent.api_key.pk]
    parent.api_key.refresh_from_db()
    assert parent.api_key.expires_at > timezone.now()  # the grace period was not applied


def test_a_third_party_apps_token_cannot_mint_keys(user: User) -> None:
    """An app the user consented to (`profile` scope, `amr: ["pwd"]`) acts for the user but is
    not the user signing in: a key it minted would outlive the app's deletion."""
    browser = Client()
    browser.force_login(user)
    app = make_client(name="Someone's app")
    tokens = code_flow_tokens(browser, app, scope="openid profile users:read")
    client = key_client(tokens["access_token"])

    response = client.post(KEYS, {"name": "x", "scopes": ["users:read"]}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "sign_in_required"
    assert not ApiKey.objects.exists()


def test_a_gateway_token_from_a_key_says_so_in_src_amr(user: User) -> None:
    """The gateway's `X-User-Token` for a key says `src_amr: ["api_key"]`, and its `amr` is
    empty like every upstream token's: with `pwd` it would pass for a sign-in (minting keys,
    MFA changes)."""
    verified = key_client(mint(user, ("profile",)).key).get("/api/v1/auth/verify")
    claims = jwt.decode(verified["X-User-Token"], options={"verify_signature": False})
    assert claims["amr"] == [] and claims["src_amr"] == ["api_key"]


def test_a_signed_in_rotation_renews_the_full_lifetime(user: User, user_client: APIClient) -> None:
    old = api_key_create(
        owner=user, name="k", scopes=("users:read",), expires_in_days=2, actor=None
    )
    day = timedelta(days=1)
    ApiKey.objects.filter(pk=old.api_key.pk).update(
        created_at=old.api_key.created_at - day, expires_at=old.api_key.expires_at - day
    )
    response = user_client.post(
        f"{KEYS}/{old.api_key.pk}/rotate", {"grace_hours": 0}, format="json"
    )
    assert response.status_code == 201
    replacement = ApiKey.objects.get(pk=response.json()["id"])
    lifetime = replacement.expires_at - replacement.created_at
    assert abs(lifetime - 2 * day) < timedelta(minutes=1)


def test_create_anonymous_is_401(anon_client: APIClient, db: Any) -> None:
    response = anon_client.post(KEYS, {"name": "x", "scopes": ["profile"]}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_create_api_admin_key_without_fresh_mfa_is_403(admin_client: APIClient) -> None:
    response = admin_client.post(KEYS, {"name": "x", "scopes": ["api_admin"]}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "fresh_mfa_required"
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(("auth_age", "expected"), [(60, 201), (20 * 60, 403)])
def test_create_api_admin_key_with_mfa_depends_on_its_age(
    admin_user: User, auth_age: int, expected: int
) -> None:
    claims = {**valid_claims(admin_user), "scope": "api_admin", "amr": ["pwd", "otp"]}
    claims["auth_time"] = int(time.time()) - auth_age
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forge(claims=claims)}")
    response = client.post(KEYS, {"name": "x", "scopes": ["api_admin"]}, format="json")
    assert response.status_code == expected


def test_create_audits_without_the_secret(user_client: APIClient) -> None:
    body = user_client.post(KEYS, {"name": "ci", "scopes": ["profile"]}, format="json").json()
    event = AuditEvent.objects.get(type="api_key.created")
    secret = body["key"].split("_", 2)[2]
    assert secret not in str(event.data) and str(event.subject_id) == body["id"]


# --- GET /api-keys ----------------------------------------------------------------------------


def test_list_shows_only_own_keys_newest_first(
    user: User, other_user: User, user_client: APIClient
) -> None:
    first, second = mint(user), mint(user)
    mint(other_user)
    api_key_revoke(api_key=first.api_key, actor=None)
    results = user_client.get(KEYS).json()["results"]
    assert [row["id"] for row in results] == [str(second.api_key.pk), str(first.api_key.pk)]
    assert results[1]["revoked_at"] is not None


def test_list_other_users_keys_needs_api_admin(
    user: User, other_user: User, user_client: APIClient, admin_client: APIClient
) -> None:
    theirs = mint(other_user)
    assert user_client.get(KEYS, {"user_id": str(other_user.pk)}).status_code == 403
    response = admin_client.get(KEYS, {"user_id": str(other_user.pk)})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(theirs.api_key.pk)]


@pytest.mark.parametrize("user_id", ["junk", "00000000-0000-0000-0000-000000000000"])
def test_list_for_unknown_user_is_404(admin_client: APIClient, user_id: str) -> None:
    assert admin_client.get(KEYS, {"user_id": user_id}).status_code == 404


def test_list_anonymous_is_401(anon_client: APIClient, db: Any) -> None:
    assert anon_client.get(KEYS).status_code == 401


def test_list_bad_cursor_is_400(user_client: APIClient) -> None:
    assert user_client.get(KEYS, {"cursor": "%%%not-a-cursor"}).status_code == 404


# --- DELETE /api-keys/{id} --------------------------------------------------------------------


def test_delete_revokes_at_once(
    user: User, user_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    minted = mint(user)
    client = key_client(minted.key, "HTTP_X_API_KEY")
    assert client.get(ME).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.delete(f"{KEYS}/{minted.api_key.pk}")
    assert response.status_code == 204
    assert client.get(ME).status_code == 401
    assert AuditEvent.objects.filter(type="api_key.revoked").count() == 1


def test_delete_someone_elses_key_is_404(other_user: User, user_client: APIClient) -> None:
    theirs = mint(other_user)
    assert user_client.delete(f"{KEYS}/{theirs.api_key.pk}").status_code == 404
    assert ApiKey.objects.get(pk=theirs.api_key.pk).revoked_at is None


def test_api_admin_may_revoke_any_key(other_user: User, admin_client: APIClient) -> None:
    theirs = mint(other_user)
    assert admin_client.delete(f"{KEYS}/{theirs.api_key.pk}").status_code == 204
    assert ApiKey.objects.get(pk=theirs.api_key.pk).revoked_at is not None


@pytest.mark.parametrize("key_id", ["junk", "00000000-0000-0000-0000-000000000000"])
def test_delete_unknown_or_malformed_id_is_404(user_client: APIClient, key_id: str) -> None:
    response = user_client.delete(f"{KEYS}/{key_id}")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_delete_anonymous_is_401(user: User, anon_client: APIClient) -> None:
    assert anon_client.delete(f"{KEYS}/{mint(user).api_key.pk}").status_code == 401


# --- POST /api-keys/{id}/rotate ---------------------------------------------------------------


def test_rotate_returns_a_new_key_and_keeps_the_old_one_in_grace(
    user: User, user_client: APIClient
) -> None:
    old = mint(user)
    response = user_client.post(
        f"{KEYS}/{old.api_key.pk}/rotate", {"grace_hours": 1}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert set(body) == MINTED_FIELDS and body["id"] != str(old.api_key.pk)
    assert key_client(body["key"]).get(ME).status_code == 200
    assert key_client(old.key).get(ME).status_code == 200
    assert AuditEvent.objects.filter(type="api_key.rotated").count() == 1


def test_rotate_with_zero_grace_ends_the_old_key(
    user: User, user_client: APIClient, django_capture_on_commit_callbacks: Any
) -> None:
    old = mint(user)
    assert key_client(old.key).get(ME).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        user_client.post(f"{KEYS}/{old.api_key.pk}/rotate", {"grace_hours": 0}, format="json")
    assert key_client(old.key).get(ME).status_code == 401


@pytest.mark.parametrize(
    "payload", [{}, {"grace_hours": -1}, {"grace_hours": 10_000}, {"grace_hours": 1, "x": 1}]
)
def test_rotate_bad_input_is_400(
    user: User, user_client: APIClient, payload: dict[str, Any]
) -> None:
    old = mint(user)
    assert (
        user_client.post(f"{KEYS}/{old.api_key.pk}/rotate", payload, format="json").status_code
        == 400
    )


def test_rotate_revoked_key_is_400(user: User, user_client: APIClient) -> None:
    old = mint(user)
    api_key_revoke(api_key=old.api_key, actor=None)
    response = user_client.post(
        f"{KEYS}/{old.api_key.pk}/rotate", {"grace_hours": 1}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "key_inactive"


def test_rotate_someone_elses_key_is_404_even_for_api_admin(
    other_user: User, user_client: APIClient, admin_client: APIClient
) -> None:
    theirs = mint(other_user)
    for client in (user_client, admin_client):
        response = client.post(
            f"{KEYS}/{theirs.api_key.pk}/rotate", {"grace_hours": 1}, format="json"
        )
        assert response.status_code == 404


def test_rotate_anonymous_is_401(user: User, anon_client: APIClient) -> None:
    old = mint(user)
    assert (
        anon_client.post(
            f"{KEYS}/{old.api_key.pk}/rotate", {"grace_hours": 1}, format="json"
        ).status_code
        == 401
    )


def test_a_weaker_credential_cannot_rotate_a_stronger_key(
    user: User, client_for: Callable[..., APIClient]
) -> None:
    strong = mint(user, ("objects:write",))
    client = client_for(user, frozenset({"profile"}))
    response = client.post(f"{KEYS}/{strong.api_key.pk}/rotate", {"grace_hours": 1}, format="json")
    assert response.status_code == 403


# --- API keys as credentials ------------------------------------------------------------------


def test_key_scopes_limit_what_it_can_do(user: User) -> None:
    client = key_client(mint(user, ("objects:read",)).key)
    assert client.get(f"/api/v1/users/{user.pk}").status_code == 403


def test_key_via_session_less_csrf_free_post_works(user: User) -> None:
    # logout-all needs a person's sign-in now; the token exchange is a POST a key may make.
    client = key_client(mint(user, ("profile",)).key, "HTTP_X_API_KEY")
    assert client.post("/api/v1/auth/token/exchange").status_code == 200


# --- POST /auth/token/exchange ----------------------------------------------------------------


def test_exchange_returns_a_short_lived_token_with_the_keys_scopes(user: User) -> None:
    minted = mint(user, ("users:read", "profile"))
    response = key_client(minted.key).post(EXCHANGE)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer" and body["scope"] == "profile users:read"
    assert 0 < body["expires_in"] <= 600
    principal = principal_from_access_token(body["access_token"])
    assert principal.user_id == user.pk and principal.amr == ("api_key",)
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(type="token.issued")
    assert event.data["grant"] == "api_key"


def test_exchange_accepts_x_api_key(user: User) -> None:
    assert key_client(mint(user).key, "HTTP_X_API_KEY").post(EXCHANGE).status_code == 200


def test_exchanged_token_ends_with_its_key(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    minted = mint(user)
    token = key_client(minted.key).post(EXCHANGE).json()["access_token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get(ME).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=minted.api_key, actor=None)
    assert client.get(ME).status_code == 401


def test_exchange_refuses_a_jwt_or_nothing(user_client: APIClient, anon_client: APIClient) -> None:
    assert user_client.post(EXCHANGE).status_code == 401
    response = anon_client.post(EXCHANGE)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_exchange_refuses_a_revoked_key(user: User) -> None:
    minted = mint(user)
    api_key_revoke(api_key=minted.api_key, actor=None)
    assert key_client(minted.key).post(EXCHANGE).status_code == 401


def test_exchange_for_a_service_account(db: Any) -> None:
    service = ServiceAccountFactory.create(scopes=["users:read"])
    body = key_client(mint(service).key).post(EXCHANGE).json()
    assert principal_from_access_token(body["access_token"]).kind == "service"


def test_exchange_with_a_malformed_key_is_401(db: Any) -> None:
    response = key_client("mk_" + "x" * 5000).post(EXCHANGE)
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


def test_list_with_own_user_id_needs_no_admin(user: User, user_client: APIClient) -> None:
    mine = mint(user)
    response = user_client.get(KEYS, {"user_id": str(user.pk)})
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(mine.api_key.pk)]
