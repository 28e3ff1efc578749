"""Token endpoints: sign-in (no account enumeration), rotation, revocation, logout-all,
password change (other sessions end), deactivation."""

from __future__ import annotations

import statistics
import time
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django.core.cache import cache
from django.test import Client, override_settings
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn.models import RefreshToken, TokenFamily
from authn.tokens.serializers import TokenPairOut
from authn.tokens.signing_keys import key_ring
from tests.authn.helpers import (
    LOGOUT_ALL_URL,
    ME_URL,
    REVOKE_URL,
    TOKEN_URL,
    bearer_client,
    me_status,
    password_login,
    refresh,
)
from tests.conftest import token_for
from tests.factories import MembershipFactory, UserFactory

NEW_PASSWORD = "a brand new passphrase 2024"


def post_token(body: dict[str, Any]) -> Any:
    return APIClient().post(TOKEN_URL, body, format="json")


def revoke(token: str) -> Any:
    return APIClient().post(REVOKE_URL, {"token": token}, format="json")


def verified_claims(access_token: str) -> dict[str, Any]:
    kid, private_key = key_ring.signing_key()
    assert jwt.get_unverified_header(access_token)["kid"] == kid
    return jwt.decode(
        access_token,
        private_key.public_key(),
        algorithms=["RS256"],
        audience=settings.MICRO_TOKEN_AUDIENCE,
        issuer=settings.MICRO_ISSUER,
    )


def csrf_session_client(user: User) -> tuple[APIClient, dict[str, str]]:
    """A session client with CSRF enforced, and the header that satisfies the check."""
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    csrf = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf
    return client, {"HTTP_X_CSRFTOKEN": csrf}


def assert_signed_out(client: APIClient) -> None:
    assert client.get(ME_URL).status_code in (401, 403)


# --- POST /api/v1/auth/token ------------------------------------------------------------------


def test_token_response_has_the_documented_shape(user, password):
    response = post_token({"username": user.username, "password": password})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "scope"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.MICRO_ACCESS_TOKEN_TTL
    assert body["refresh_token"].startswith("mrt_")
    assert body["scope"] == "objects:read objects:write profile users:read"


def test_token_response_is_never_cached(user, password):
    response = post_token({"username": user.username, "password": password})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert response["Pragma"] == "no-cache"


def test_access_token_header_is_rs256_at_jwt_with_the_active_kid(user, password):
    access_token = password_login(user, password)["access_token"]

    header = jwt.get_unverified_header(access_token)
    kid, _ = key_ring.signing_key()
    assert header == {"alg": "RS256", "typ": "at+jwt", "kid": kid}


def test_access_token_carries_the_documented_claims(user, password):
    membership = MembershipFactory.create(user=user)
    pair = password_login(user, password)

    claims = verified_claims(pair["access_token"])

    assert claims["iss"] == settings.MICRO_ISSUER
    assert claims["sub"] == str(user.pk)
    assert claims["aud"] == settings.MICRO_TOKEN_AUDIENCE
    assert claims["exp"] - claims["iat"] == pair["expires_in"]
    assert abs(claims["iat"] - time.time()) < 60
    assert isinstance(claims["jti"], str) and len(claims["jti"]) >= 16
    assert claims["scope"] == pair["scope"]
    assert claims["username"] == user.username
    assert claims["kind"] == "user"
    assert claims["groups"] == [str(membership.group.pk)]
    assert claims["amr"] == ["pwd"]
    assert "client_id" not in claims


def test_each_sign_in_gets_a_distinct_jti_and_family(user, password):
    first = verified_claims(password_login(user, password)["access_token"])
    second = verified_claims(password_login(user, password)["access_token"])

    assert first["jti"] != second["jti"]
    assert first["sid"] != second["sid"]


def test_access_token_from_sign_in_authenticates_as_the_user(user, password):
    access_token = password_login(user, password)["access_token"]

    response = bearer_client(access_token).get(ME_URL)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)
    assert response.json()["auth_method"] == "jwt"


def test_the_token_pair_body_is_the_one_its_serializer_documents(user, password):
    # pair_response writes the body without TokenPairOut: the serializer gives it back as is.
    for body in (
        password_login(user, password),
        refresh(password_login(user, password)["refresh_token"]).json(),
    ):
        assert list(body) == list(TokenPairOut().fields)
        assert TokenPairOut(body).data == body
        assert [type(value) for value in body.values()] == [str, str, str, int, str]


def test_sign_in_accepts_email_and_any_username_case(user, password):
    assert post_token({"username": user.email, "password": password}).status_code == 200
    assert post_token({"username": user.username.upper(), "password": password}).status_code == 200


def test_requested_scope_subset_is_honoured(user, password, other_user):
    pair = password_login(user, password, scope="profile")

    assert pair["scope"] == "profile"
    assert verified_claims(pair["access_token"])["scope"] == "profile"
    client = bearer_client(pair["access_token"])
    assert client.get(ME_URL).json()["scopes"] == ["profile"]
    assert client.get(f"/api/v1/users/{other_user.pk}").status_code == 403


def test_blank_scope_means_every_held_scope(user, password):
    pair = password_login(user, password, scope="")

    assert pair["scope"] == "objects:read objects:write profile users:read"


@pytest.mark.parametrize("scope", ["api_admin", "users:write", "profile users:write"])
def test_scope_not_held_is_refused_with_invalid_scope(user, password, scope):
    response = post_token({"username": user.username, "password": password, "scope": scope})

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "invalid_scope"
    assert "scope" in response.json()["errors"]
    assert not TokenFamily.objects.filter(user=user).exists()


@pytest.mark.parametrize("scope", ["superpowers", "profile admin", "PROFILE"])
def test_unknown_scope_is_refused_with_403(user, password, scope):
    response = post_token({"username": user.username, "password": password, "scope": scope})

    assert response.status_code == 403
    assert response.json()["code"] == "invalid_scope"


def test_admin_may_request_api_admin(admin_user, password):
    pair = password_login(admin_user, password, scope="api_admin")

    assert "api_admin" in pair["scope"].split()


def test_unknown_user_and_wrong_password_get_identical_responses(user, password):
    wrong_password = post_token({"username": user.username, "password": password + "x"})
    unknown_user = post_token({"username": "nobody-like-this", "password": password})
    unknown_email = post_token({"username": "nobody@example.com", "password": password})

    assert wrong_password.status_code == unknown_user.status_code == 401
    assert wrong_password.json() == unknown_user.json() == unknown_email.json()
    assert wrong_password.json()["code"] == "invalid_credentials"
    assert wrong_password["WWW-Authenticate"] == unknown_user["WWW-Authenticate"]
    assert wrong_password["Content-Type"] == unknown_user["Content-Type"]


def test_inactive_user_gets_the_same_response_as_a_wrong_password(user, password):
    wrong_password = post_token({"username": user.username, "password": "not it at all"})
    User.objects.filter(pk=user.pk).update(is_active=False)

    inactive = post_token({"username": user.username, "password": password})

    assert inactive.status_code == 401
    assert inactive.json() == wrong_password.json()


def _median_seconds(body: dict[str, str], runs: int = 5) -> float:
    durations = []
    for _ in range(runs):
        started = time.perf_counter()
        assert post_token(body).status_code == 401
        durations.append(time.perf_counter() - started)
    return statistics.median(durations)


PRODUCTION_HASHERS = ["accounts.hashers.OwaspArgon2idHasher"]


def test_unknown_user_costs_the_one_password_hash_a_wrong_password_costs(
    user, password, monkeypatch
):
    """An unknown name runs the configured hasher once, as a wrong password does,
    so the answer's timing does not tell which accounts exist. Counted, then timed with the
    production Argon2id cost (the test settings' MD5 would hide a missing hash)."""
    from accounts.hashers import OwaspArgon2idHasher

    calls: list[str] = []
    encode, verify = OwaspArgon2idHasher.encode, OwaspArgon2idHasher.verify

    def counting_encode(self, *args, **kwargs):
        calls.append("encode")
        return encode(self, *args, **kwargs)

    def counting_verify(self, *args, **kwargs):
        calls.append("verify")
        return verify(self, *args, **kwargs)

    with override_settings(PASSWORD_HASHERS=PRODUCTION_HASHERS):
        user.set_password(password)
        user.save()
        monkeypatch.setattr(OwaspArgon2idHasher, "encode", counting_encode)
        monkeypatch.setattr(OwaspArgon2idHasher, "verify", counting_verify)
        post_token({"username": "nobody-like-this", "password": password})
        post_token({"username": user.username, "password": password + "x"})
        assert calls == ["encode", "verify"]

        unknown = _median_seconds({"username": "nobody-like-this-either", "password": password})
        wrong = _median_seconds({"username": user.username, "password": password + "x"})

    # Argon2id dominates both; without the dummy hash an unknown name answers in a fraction.
    assert unknown > wrong / 3
    assert wrong > unknown / 3


def test_failed_sign_in_is_audited_without_the_password(user, password):
    post_token({"username": user.username, "password": "wrong password here"})

    event = AuditEvent.objects.get(type="login.failed")
    assert (event.subject_type, event.subject_id) == ("user", str(user.pk))
    assert "wrong password here" not in str(event.data)


def test_failed_sign_in_of_unknown_name_stores_only_a_digest(db):
    typed = "my secret passphrase typed into the name field"
    post_token({"username": typed, "password": "whatever it was"})

    event = AuditEvent.objects.get(type="login.failed")
    assert event.subject_type == "unknown_login"
    assert event.subject_id.startswith("sha256:")
    assert typed not in event.subject_id and typed not in str(event.data)


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "someone"}, {"password": "something"}, {"username": "", "password": ""}],
)
def test_missing_fields_are_refused_with_a_400_problem(db, body):
    response = post_token(body)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["status"] == 400
    assert response.json()["errors"]


def test_unknown_fields_are_refused_with_400(user, password):
    response = post_token(
        {"username": user.username, "password": password, "grant_type": "password"}
    )

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_field"
    assert "grant_type" in response.json()["errors"]


@pytest.mark.parametrize("body", [[], "a string", 42, {"username": 1, "password": ["x"]}])
def test_wrongly_typed_body_is_refused_with_400(db, body):
    response = post_token(body)  # type: ignore[arg-type]

    assert response.status_code == 400


# --- POST /api/v1/auth/token/refresh ----------------------------------------------------------


def test_refresh_returns_a_new_pair(user, password):
    first = password_login(user, password)

    response = refresh(first["refresh_token"])

    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert second["scope"] == first["scope"]
    assert response["Cache-Control"] == "no-store"
    assert me_status(second["access_token"]) == 200
    assert (
        verified_claims(second["access_token"])["sid"]
        == verified_claims(first["access_token"])["sid"]
    )


def test_refresh_keeps_a_narrowed_scope(user, password):
    first = password_login(user, password, scope="profile")

    second = refresh(first["refresh_token"]).json()

    assert second["scope"] == "profile"


def test_reused_refresh_token_is_refused_and_revokes_the_whole_family(user, password):
    first = password_login(user, password)
    second = refresh(first["refresh_token"]).json()
    sid = verified_claims(first["access_token"])["sid"]

    reuse = refresh(first["refresh_token"])

    assert reuse.status_code == 401
    assert reuse.json()["code"] == "invalid_refresh_token"
    assert refresh(second["refresh_token"]).status_code == 401
    assert me_status(second["access_token"]) == 401
    assert me_status(first["access_token"]) == 401
    assert TokenFamily.objects.get(pk=sid).revoke_reason == "reuse_detected"
    event = AuditEvent.objects.get(type="token.reuse_detected")
    assert event.subject_id == sid
    assert event.actor_id == user.pk


def test_reuse_in_one_family_leaves_other_sign_ins_alone(user, password):
    victim = password_login(user, password)
    other = password_login(user, password)
    refresh(victim["refresh_token"])

    assert refresh(victim["refresh_token"]).status_code == 401

    assert me_status(other["access_token"]) == 200
    assert refresh(other["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    "token", ["mrt_unknown", "not-a-refresh-token", "mrt_" + "x" * 200, "", "   "]
)
def test_unknown_or_malformed_refresh_token_is_refused(db, token):
    response = refresh(token)

    assert response.status_code in (400, 401)
    assert response["Content-Type"].startswith("application/problem+json")


def test_access_token_is_refused_as_refresh_token(user, password):
    pair = password_login(user, password)

    assert refresh(pair["access_token"]).status_code == 401


def test_refresh_of_deactivated_user_is_refused(user, password):
    pair = password_login(user, password)
    User.objects.filter(pk=user.pk).update(is_active=False)

    assert refresh(pair["refresh_token"]).status_code == 401


def test_refresh_token_is_stored_only_as_a_hash(user, password):
    raw = password_login(user, password)["refresh_token"]

    stored = list(RefreshToken.objects.values_list("token_hash", flat=True))
    assert stored and raw not in stored
    assert all(raw[4:] not in value for value in stored)


# --- POST /api/v1/auth/token/revoke -----------------------------------------------------------


def test_revoked_refresh_token_ends_its_family(user, password):
    pair = password_login(user, password)

    response = revoke(pair["refresh_token"])

    assert response.status_code == 200
    assert refresh(pair["refresh_token"]).status_code == 401
    assert me_status(pair["access_token"]) == 401


def test_revoked_access_token_stops_working_and_other_tokens_do_not(user, password):
    pair = password_login(user, password)
    other = password_login(user, password)

    assert revoke(pair["access_token"]).status_code == 200

    assert me_status(pair["access_token"]) == 401
    assert me_status(other["access_token"]) == 200
    sibling = refresh(pair["refresh_token"])
    assert sibling.status_code == 200
    assert me_status(sibling.json()["access_token"]) == 200


@pytest.mark.parametrize("token", ["garbage", "mrt_unknown", "a.b.c", "mk_abc"])
def test_revoking_an_unknown_token_answers_200(db, token):
    response = revoke(token)

    assert response.status_code == 200


def test_revoke_requires_the_token_field(db):
    response = APIClient().post(REVOKE_URL, {}, format="json")

    assert response.status_code == 400
    assert "token" in response.json()["errors"]


def test_revocation_survives_a_cache_flush(user, password):
    pair = password_login(user, password)
    revoked_family = password_login(user, password)
    revoke(pair["access_token"])
    revoke(revoked_family["refresh_token"])

    cache.clear()

    assert me_status(pair["access_token"]) == 401
    assert me_status(revoked_family["access_token"]) == 401
    assert me_status(password_login(user, password)["access_token"]) == 200


# --- POST /api/v1/auth/logout-all (case 26) ---------------------------------------------------


def test_logout_all_ends_every_refresh_token_and_the_calling_token(user, password):
    caller = password_login(user, password)
    elsewhere = password_login(user, password)

    response = bearer_client(caller["access_token"]).post(LOGOUT_ALL_URL)

    assert response.status_code == 204
    assert me_status(caller["access_token"]) == 401
    assert me_status(elsewhere["access_token"]) == 401
    assert refresh(caller["refresh_token"]).status_code == 401
    assert refresh(elsewhere["refresh_token"]).status_code == 401
    assert not TokenFamily.objects.filter(user=user, revoked_at__isnull=True).exists()


def test_logout_all_ends_the_dashboard_session(user, password, session_client):
    dashboard = session_client(user)
    assert dashboard.get(ME_URL).status_code == 200
    caller = password_login(user, password)

    assert bearer_client(caller["access_token"]).post(LOGOUT_ALL_URL).status_code == 204

    assert_signed_out(dashboard)


def test_logout_all_leaves_other_users_signed_in(user, other_user, password, session_client):
    other_pair = password_login(other_user, password)
    other_dashboard = session_client(other_user)
    caller = password_login(user, password)

    bearer_client(caller["access_token"]).post(LOGOUT_ALL_URL)

    assert me_status(other_pair["access_token"]) == 200
    assert refresh(other_pair["refresh_token"]).status_code == 200
    assert other_dashboard.get(ME_URL).status_code == 200


def test_logout_all_requires_authentication(db):
    response = APIClient().post(LOGOUT_ALL_URL)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_sign_in_after_logout_all_works_again(user, password):
    caller = password_login(user, password)
    bearer_client(caller["access_token"]).post(LOGOUT_ALL_URL)

    fresh = password_login(user, password)

    assert me_status(fresh["access_token"]) == 200


# --- password change (case 27) ----------------------------------------------------------------


def change_password(client: APIClient, **extra: Any) -> Any:
    return client.post(
        "/api/v1/me/password",
        {"old_password": "correct horse battery staple", "new_password": NEW_PASSWORD},
        format="json",
        **extra,
    )


def test_password_change_ends_other_refresh_tokens_and_sessions(user, password, session_client):
    current = password_login(user, password)
    other = password_login(user, password)
    dashboard = session_client(user)

    response = change_password(bearer_client(current["access_token"]))

    assert response.status_code == 204
    assert refresh(other["refresh_token"]).status_code == 401
    assert me_status(other["access_token"]) == 401
    assert_signed_out(dashboard)


def test_password_change_keeps_the_callers_own_sign_in(user, password):
    current = password_login(user, password)

    change_password(bearer_client(current["access_token"]))

    assert me_status(current["access_token"]) == 200
    assert refresh(current["refresh_token"]).status_code == 200


def test_password_change_switches_the_accepted_password(user, password):
    current = password_login(user, password)

    change_password(bearer_client(current["access_token"]))

    assert post_token({"username": user.username, "password": password}).status_code == 401
    assert post_token({"username": user.username, "password": NEW_PASSWORD}).status_code == 200


def test_password_change_from_the_dashboard_keeps_that_session_and_ends_others(
    user, password, session_client
):
    dashboard, csrf = csrf_session_client(user)
    other_dashboard = session_client(user)
    pair = password_login(user, password)

    response = change_password(dashboard, **csrf)

    assert response.status_code == 204
    assert dashboard.get(ME_URL).status_code == 200
    assert_signed_out(other_dashboard)
    assert refresh(pair["refresh_token"]).status_code == 401


# --- session fixation (case 25) ---------------------------------------------------------------


def test_session_id_changes_at_login(admin_user, password):
    client = Client()
    before: SessionBase = client.session  # an anonymous session with its own cookie
    before["visited"] = True
    before.save()
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value

    response = client.post(
        "/accounts/login/",
        {"username": admin_user.username, "password": password, "next": "/admin/"},
    )

    assert response.status_code == 302
    new_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert new_key and new_key != old_key
    assert not before.exists(old_key)
    assert client.session["_auth_user_id"] == str(admin_user.pk)


def test_pre_login_session_cookie_is_not_signed_in_after_login(admin_user, password):
    client = Client()
    client.session.save()
    old_key = client.cookies[settings.SESSION_COOKIE_NAME].value
    response = client.post(
        "/accounts/login/", {"username": admin_user.username, "password": password}
    )
    assert response.status_code == 302
    assert client.get(ME_URL).status_code == 200

    attacker = APIClient()
    attacker.cookies[settings.SESSION_COOKIE_NAME] = old_key

    assert attacker.get(ME_URL).status_code == 401


# --- deactivation -----------------------------------------------------------------------------


def test_deactivated_users_tokens_are_rejected(user, password, admin_client, user_client):
    pair = password_login(user, password)
    assert user_client.get(ME_URL).status_code == 200

    response = admin_client.delete(f"/api/v1/users/{user.pk}")

    assert response.status_code == 204
    assert user_client.get(ME_URL).status_code == 401
    assert me_status(pair["access_token"]) == 401
    assert refresh(pair["refresh_token"]).status_code == 401
    assert post_token({"username": user.username, "password": password}).status_code == 401


def test_deactivation_leaves_other_users_tokens_alone(user, admin_client):
    bystander = UserFactory.create()
    bystander_client = bearer_client(token_for(bystander))

    admin_client.delete(f"/api/v1/users/{user.pk}")

    assert bystander_client.get(ME_URL).status_code == 200


def test_hard_deleted_user_token_is_rejected_at_once(user):
    from tests.conftest import token_for

    token = token_for(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/me").status_code == 200

    user.delete()

    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"
