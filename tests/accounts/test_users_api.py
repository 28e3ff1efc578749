"""Users API: allow, deny and anonymous cases for every endpoint but signup."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError as DjangoValidationError

from accounts import services
from accounts.models import User
from tests.factories import DEFAULT_PASSWORD, ServiceAccountFactory, UserFactory

PUBLIC_KEYS = {"id", "username", "display_name", "avatar_url", "kind", "created_at"}
PRIVATE_KEYS = PUBLIC_KEYS | {"email", "email_verified", "is_active", "last_login_at"}
PROBLEM_TYPE = "application/problem+json"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"  # a well-formed id no user has
PROFILE_ONLY = frozenset({"profile"})


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM_TYPE)
    body = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    return body


# --- GET /api/v1/me -----------------------------------------------------------------------


def test_me_returns_private_view_scopes_groups_and_method_for_a_user(user_client, user):
    response = user_client.get("/api/v1/me")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user", "scopes", "groups", "auth_method"}
    assert set(body["user"]) == PRIVATE_KEYS
    assert body["user"]["id"] == str(user.pk)
    assert body["user"]["kind"] == "user"
    assert set(body["scopes"]) == {"profile", "users:read", "objects:read", "objects:write"}
    assert body["groups"] == []
    assert body["auth_method"] == "jwt"


def test_me_for_service_account_shows_kind_service_and_only_granted_scopes(client_for):
    service = ServiceAccountFactory.create(scopes=["users:read"])

    response = client_for(service).get("/api/v1/me")

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["kind"] == "service"
    assert body["scopes"] == ["users:read"]


def test_me_for_admin_lists_every_scope(admin_client, admin_user):
    response = admin_client.get("/api/v1/me")

    assert response.status_code == 200
    body = response.json()
    assert body["user"]["id"] == str(admin_user.pk)
    assert "api_admin" in body["scopes"]
    assert "users:write" in body["scopes"]


def test_me_with_session_reports_session_method(session_client, user):
    response = session_client(user).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["auth_method"] == "session"


def test_me_anonymous_gets_401_with_bearer_challenge(anon_client):
    response = anon_client.get("/api/v1/me")

    body = assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert body["code"] == "not_authenticated"


def test_me_with_garbage_token_gets_401(anon_client):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-jwt")

    response = anon_client.get("/api/v1/me")

    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- GET /api/v1/users/{id} ---------------------------------------------------------------


def test_user_detail_of_another_user_has_exactly_the_public_keys(user_client, other_user):
    response = user_client.get(f"/api/v1/users/{other_user.pk}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PUBLIC_KEYS
    assert body["id"] == str(other_user.pk)
    assert body["username"] == other_user.username
    assert other_user.email not in response.content.decode()


def test_user_detail_of_self_is_the_private_view(user_client, user):
    response = user_client.get(f"/api/v1/users/{user.pk}")

    assert response.status_code == 200
    assert set(response.json()) == PRIVATE_KEYS
    assert response.json()["email"] == user.email


def test_user_detail_with_users_write_is_the_private_view(admin_client, other_user):
    response = admin_client.get(f"/api/v1/users/{other_user.pk}")

    assert response.status_code == 200
    assert set(response.json()) == PRIVATE_KEYS


def test_user_detail_with_token_lacking_users_read_is_403(client_for, user, other_user):
    client = client_for(user, scopes=PROFILE_ONLY)

    response = client.get(f"/api/v1/users/{other_user.pk}")

    body = assert_problem(response, 403)
    assert body["code"] == "insufficient_scope"


def test_creating_a_user_with_a_users_read_token_names_the_missing_scope(client_for, user):
    client = client_for(user, scopes=frozenset({"users:read"}))

    response = client.post(
        "/api/v1/users",
        {"username": "newbie", "email": "newbie@example.com", "password": "violet sky lantern"},
        format="json",
    )

    body = assert_problem(response, 403)
    assert (body["code"], body["detail"]) == (
        "insufficient_scope",
        "The credential lacks: users:write.",
    )


def test_a_refusal_of_an_any_scope_requirement_names_the_alternatives(client_for, user):
    client = client_for(user, scopes=frozenset({"objects:read"}))

    body = assert_problem(client.get("/api/v1/me"), 403)

    assert (body["code"], body["detail"]) == (
        "insufficient_scope",
        "The credential lacks one of: profile users:read.",
    )


def test_user_detail_anonymous_is_401(anon_client, other_user):
    response = anon_client.get(f"/api/v1/users/{other_user.pk}")

    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("user_id", [UNKNOWN_ID, "not-a-uuid", "1", "x" * 200])
def test_user_detail_of_unknown_or_malformed_id_is_404_problem(user_client, user_id):
    response = user_client.get(f"/api/v1/users/{user_id}")

    body = assert_problem(response, 404)
    assert body["code"] == "user_not_found"


def test_user_detail_sends_etag_and_private_cache_control(user_client, other_user):
    response = user_client.get(f"/api/v1/users/{other_user.pk}")

    assert response.status_code == 200
    assert response["ETag"].startswith('"')
    assert response["Cache-Control"] == "private, max-age=60"


def test_user_detail_with_matching_if_none_match_is_304(user_client, other_user):
    etag = user_client.get(f"/api/v1/users/{other_user.pk}")["ETag"]

    response = user_client.get(f"/api/v1/users/{other_user.pk}", HTTP_IF_NONE_MATCH=etag)

    assert response.status_code == 304
    assert response.content == b""
    assert response["ETag"] == etag


def test_user_detail_with_stale_if_none_match_is_200(user_client, other_user):
    response = user_client.get(f"/api/v1/users/{other_user.pk}", HTTP_IF_NONE_MATCH='"stale"')

    assert response.status_code == 200
    assert response.json()["id"] == str(other_user.pk)


def test_user_detail_with_jwt_costs_one_query(
    user_client, other_user, django_assert_num_queries, settings
):
    settings.MICRO_SIGNING_KEY_REFRESH_SECONDS = 300  # no key-ring reload inside the block
    url = f"/api/v1/users/{other_user.pk}"
    warm = f"/api/v1/users/{UserFactory.create().pk}"
    # On the issuer's host, as a deployment is asked (another host is the stack's until the
    # process has logged its warning about it).
    host = {"HTTP_HOST": urlsplit(settings.MICRO_ISSUER).netloc}
    assert user_client.get(warm, **host).status_code == 200  # warm-up: key ring, revocation list

    with django_assert_num_queries(1):
        response = user_client.get(url, **host)
    assert response.status_code == 200
    # The fast path remembers the public view it read (docs/gateway.md, "Staleness bound").
    with django_assert_num_queries(0):
        assert user_client.get(url, **host).content == response.content


# --- GET /api/v1/users?ids= ---------------------------------------------------------------


def test_batch_lookup_returns_public_views_of_known_ids_only(user_client, other_user):
    third = UserFactory.create()
    ids = [str(other_user.pk), str(uuid.uuid4()), "garbage", str(third.pk)]

    response = user_client.get("/api/v1/users", {"ids": ",".join(ids)})

    assert response.status_code == 200
    results = response.json()["results"]
    assert {row["id"] for row in results} == {str(other_user.pk), str(third.pk)}
    assert all(set(row) == PUBLIC_KEYS for row in results)


def test_batch_lookup_returns_public_views_even_for_self_and_users_write(admin_client, user):
    # The batch lookup answers `{"results": [public views]}` whoever asks.
    response = admin_client.get("/api/v1/users", {"ids": str(user.pk)})

    assert response.status_code == 200
    assert [set(row) for row in response.json()["results"]] == [PUBLIC_KEYS]


def test_batch_lookup_accepts_100_ids(user_client, other_user):
    ids = [str(other_user.pk)] + [str(uuid.uuid4()) for _ in range(99)]

    response = user_client.get("/api/v1/users", {"ids": ",".join(ids)})

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(other_user.pk)]


def test_batch_lookup_rejects_more_than_100_ids(user_client):
    ids = ",".join(str(uuid.uuid4()) for _ in range(101))

    response = user_client.get("/api/v1/users", {"ids": ids})

    body = assert_problem(response, 400)
    assert "ids" in body["errors"]


def test_batch_lookup_of_only_malformed_ids_is_empty(user_client):
    response = user_client.get("/api/v1/users", {"ids": "a,b,,c"})

    assert response.status_code == 200
    assert response.json() == {"results": []}


def test_batch_lookup_uses_at_most_two_queries(
    user_client, other_user, django_assert_max_num_queries, settings
):
    settings.MICRO_SIGNING_KEY_REFRESH_SECONDS = 300  # no key-ring reload inside the block
    ids = ",".join(str(u.pk) for u in [other_user, *UserFactory.create_batch(5)])
    assert user_client.get("/api/v1/users", {"ids": ids}).status_code == 200  # warm-up

    with django_assert_max_num_queries(2):
        response = user_client.get("/api/v1/users", {"ids": ids})

    assert len(response.json()["results"]) == 6


def test_batch_lookup_is_cacheable(user_client, other_user):
    response = user_client.get("/api/v1/users", {"ids": str(other_user.pk)})

    assert response["Cache-Control"] == "private, max-age=60"
    again = user_client.get(
        "/api/v1/users", {"ids": str(other_user.pk)}, HTTP_IF_NONE_MATCH=response["ETag"]
    )
    assert again.status_code == 304


def test_batch_lookup_with_token_lacking_users_read_is_403(client_for, user, other_user):
    response = client_for(user, scopes=PROFILE_ONLY).get(
        "/api/v1/users", {"ids": str(other_user.pk)}
    )

    assert_problem(response, 403)


def test_batch_lookup_anonymous_is_401(anon_client, other_user):
    response = anon_client.get("/api/v1/users", {"ids": str(other_user.pk)})

    assert_problem(response, 401)


# --- GET /api/v1/users?username= ----------------------------------------------------------


def test_username_lookup_is_exact_and_case_insensitive(user_client):
    target = UserFactory.create(username="Alice.Smith")
    UserFactory.create(username="alice.smithson")

    response = user_client.get("/api/v1/users", {"username": "ALICE.smith"})

    assert response.status_code == 200
    results = response.json()["results"]
    assert [row["id"] for row in results] == [str(target.pk)]
    assert set(results[0]) == PUBLIC_KEYS


def test_an_overlong_username_lookup_is_400_not_cut_to_another_users(user_client):
    UserFactory.create(username="a" * 150)

    response = user_client.get("/api/v1/users", {"username": "a" * 150 + "b"})

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "max_length"


def test_username_lookup_does_not_match_prefixes(user_client):
    UserFactory.create(username="alice.smith")

    response = user_client.get("/api/v1/users", {"username": "alice"})

    assert response.status_code == 200
    assert response.json() == {"results": []}


# --- GET /api/v1/users (no filter) --------------------------------------------------------


def test_user_list_without_filter_is_403_for_an_ordinary_user(user_client):
    response = user_client.get("/api/v1/users")

    body = assert_problem(response, 403)
    assert body["code"] == "insufficient_scope"


def test_user_list_without_filter_is_paginated_for_admin(admin_client, user, other_user):
    response = admin_client.get("/api/v1/users")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next"}
    assert body["next"] is None
    assert {str(user.pk), str(other_user.pk)} <= {row["id"] for row in body["results"]}


def test_user_list_follows_the_next_cursor(admin_client):
    UserFactory.create_batch(4)

    first = admin_client.get("/api/v1/users", {"page_size": 3}).json()
    second = admin_client.get(first["next"]).json()

    assert len(first["results"]) == 3
    assert first["next"]
    ids = [row["id"] for row in first["results"] + second["results"]]
    assert len(ids) == len(set(ids)) == User.objects.count()


def test_user_list_page_size_is_at_most_100(admin_client):
    User.objects.bulk_create(
        User(username=f"bulk{n}", password=make_password(None)) for n in range(105)
    )

    assert len(admin_client.get("/api/v1/users", {"page_size": 100}).json()["results"]) == 100
    capped = admin_client.get("/api/v1/users", {"page_size": 1000000})

    assert capped.status_code == 200 and len(capped.json()["results"]) == 100


def test_user_list_with_invalid_cursor_is_404(admin_client):
    response = admin_client.get("/api/v1/users", {"cursor": "%%%not-a-cursor"})

    assert assert_problem(response, 404)["code"] == "invalid_cursor"


# --- POST /api/v1/users -------------------------------------------------------------------


def test_create_user_with_users_write_returns_201_private_view(admin_client):
    response = admin_client.post(
        "/api/v1/users",
        {"username": "newbie", "email": "newbie@example.com", "password": "violet sky lantern"},
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == PRIVATE_KEYS
    assert body["username"] == "newbie"
    assert "password" not in body
    created = User.objects.get(pk=body["id"])
    assert created.check_password("violet sky lantern")


def test_create_service_account_without_password_has_unusable_password(admin_client):
    response = admin_client.post("/api/v1/users", {"username": "billing-svc", "kind": "service"})

    assert response.status_code == 201
    assert response.json()["kind"] == "service"
    assert not User.objects.get(username="billing-svc").has_usable_password()


@pytest.mark.parametrize("password", ["violet sky lantern", ""])
def test_create_service_account_with_a_password_is_400(client_for, password):
    operator = ServiceAccountFactory.create(scopes=["users:write", "users:read"])

    response = client_for(operator).post(
        "/api/v1/users",
        {"username": "billing-svc", "kind": "service", "password": password},
        format="json",
    )

    body = assert_problem(response, 400)
    assert "password" in body["errors"]
    assert not User.objects.filter(username="billing-svc").exists()


def test_the_service_refuses_a_service_account_with_a_password(db):
    with pytest.raises(DjangoValidationError):
        services.user_create(
            actor=None, username="billing-svc", kind="service", password="violet sky lantern"
        )

    assert not User.objects.filter(username="billing-svc").exists()


def test_create_user_with_duplicate_username_in_other_case_is_409(admin_client, user):
    response = admin_client.post("/api/v1/users", {"username": user.username.upper()})

    body = assert_problem(response, 409)
    assert "username" in body["errors"]
    assert User.objects.filter(username__iexact=user.username).count() == 1


def test_create_user_with_duplicate_email_in_other_case_is_409(admin_client, user):
    response = admin_client.post(
        "/api/v1/users", {"username": "fresh", "email": user.email.upper()}
    )

    body = assert_problem(response, 409)
    assert "email" in body["errors"]


@pytest.mark.parametrize("weak", ["short1", "password123", "12345678"])
def test_create_user_with_weak_password_is_403(admin_client, weak):
    response = admin_client.post("/api/v1/users", {"username": "weakling", "password": weak})

    body = assert_problem(response, 403)
    assert "password" in body["errors"]
    assert not User.objects.filter(username="weakling").exists()


@pytest.mark.parametrize("field", ["is_staff", "is_superuser", "scopes", "id", "bogus"])
def test_create_user_with_unknown_field_is_400(admin_client, field):
    response = admin_client.post("/api/v1/users", {"username": "sneaky", field: True})

    body = assert_problem(response, 400)
    assert field in body["errors"]
    assert not User.objects.filter(username="sneaky").exists()


def test_create_user_with_invalid_username_is_400(admin_client):
    response = admin_client.post("/api/v1/users", {"username": "has space"})

    body = assert_problem(response, 400)
    assert "username" in body["errors"]


def test_create_user_without_users_write_is_403(user_client):
    response = user_client.post("/api/v1/users", {"username": "nope"})

    assert_problem(response, 403)
    assert not User.objects.filter(username="nope").exists()


def test_create_user_anonymous_is_401(anon_client, db):
    response = anon_client.post("/api/v1/users", {"username": "nope"})

    assert_problem(response, 401)
    assert not User.objects.filter(username="nope").exists()


def test_create_user_by_session_without_csrf_token_is_403(session_client, admin_user):
    response = session_client(admin_user).post("/api/v1/users", {"username": "csrfless"})

    assert_problem(response, 403)
    assert not User.objects.filter(username="csrfless").exists()


# --- PATCH /api/v1/users/{id} -------------------------------------------------------------


def test_self_may_change_display_name_avatar_and_email(user_client, user):
    response = user_client.patch(
        f"/api/v1/users/{user.pk}",
        {
            "display_name": "New Name",
            "avatar_url": "https://cdn.example.com/a.png",
            "email": "new@example.com",
        },
    )

    assert response.status_code == 200
    assert set(response.json()) == PRIVATE_KEYS
    user.refresh_from_db()
    assert user.display_name == "New Name"
    assert user.avatar_url == "https://cdn.example.com/a.png"
    assert user.email == "new@example.com"


def test_changing_email_resets_email_verified(user_client, user):
    User.objects.filter(pk=user.pk).update(email_verified=True)

    response = user_client.patch(f"/api/v1/users/{user.pk}", {"email": "changed@example.com"})

    assert response.status_code == 200
    assert response.json()["email_verified"] is False


@pytest.mark.parametrize(
    "changes",
    [
        {"is_staff": True},
        {"is_superuser": True},
        {"is_active": False},
        {"id": "00000000-0000-0000-0000-000000000001"},
        {"scopes": ["api_admin"]},
        {"username": "renamed"},
        {"kind": "service"},
        {"display_name": "ok", "is_staff": True},
    ],
)
def test_self_sending_a_privileged_field_is_400_and_changes_nothing(user_client, user, changes):
    before = User.objects.filter(pk=user.pk).values().get()

    response = user_client.patch(f"/api/v1/users/{user.pk}", changes)

    body = assert_problem(response, 400)
    privileged = set(changes) - {"display_name"}
    assert privileged <= set(body["errors"])
    assert User.objects.filter(pk=user.pk).values().get() == before


def test_patching_another_users_account_without_users_write_is_403(user_client, other_user):
    response = user_client.patch(f"/api/v1/users/{other_user.pk}", {"display_name": "Hijacked"})

    assert_problem(response, 403)
    other_user.refresh_from_db()
    assert other_user.display_name != "Hijacked"


def test_self_patch_with_token_lacking_profile_is_403(client_for, user):
    client = client_for(user, scopes=frozenset({"users:read"}))

    response = client.patch(f"/api/v1/users/{user.pk}", {"display_name": "x"})

    assert_problem(response, 403)


def test_patch_anonymous_is_401(anon_client, user):
    response = anon_client.patch(f"/api/v1/users/{user.pk}", {"display_name": "x"})

    assert_problem(response, 401)


def test_patch_unknown_user_is_404(admin_client):
    response = admin_client.patch(f"/api/v1/users/{uuid.uuid4()}", {"display_name": "x"})

    assert_problem(response, 404)


def test_admin_may_change_username_and_is_active(admin_client, other_user):
    response = admin_client.patch(
        f"/api/v1/users/{other_user.pk}", {"username": "renamed", "display_name": "R"}
    )

    assert response.status_code == 200
    other_user.refresh_from_db()
    assert other_user.username == "renamed"
    assert other_user.display_name == "R"


def test_admin_setting_is_active_false_deactivates_and_revokes_tokens(
    admin_client, client_for, other_user
):
    victim = client_for(other_user)
    assert victim.get("/api/v1/me").status_code == 200

    response = admin_client.patch(f"/api/v1/users/{other_user.pk}", {"is_active": False})

    assert response.status_code == 200
    assert response.json()["is_active"] is False
    other_user.refresh_from_db()
    assert other_user.is_active is False
    assert victim.get("/api/v1/me").status_code == 401


def test_admin_renaming_to_a_taken_username_is_409(admin_client, user, other_user):
    response = admin_client.patch(
        f"/api/v1/users/{other_user.pk}", {"username": user.username.upper()}
    )

    body = assert_problem(response, 409)
    assert "username" in body["errors"]


def test_admin_may_not_set_is_staff_through_the_api(admin_client, other_user):
    response = admin_client.patch(f"/api/v1/users/{other_user.pk}", {"is_staff": True})

    assert_problem(response, 400)
    other_user.refresh_from_db()
    assert other_user.is_staff is False


@pytest.mark.parametrize(
    "avatar_url",
    ["javascript:alert(1)", "data:text/html,<script>alert(1)</script>", "ftp://x.example/a"],
)
def test_avatar_url_with_a_dangerous_scheme_is_400(user_client, user, avatar_url):
    response = user_client.patch(f"/api/v1/users/{user.pk}", {"avatar_url": avatar_url})

    body = assert_problem(response, 400)
    assert "avatar_url" in body["errors"]
    user.refresh_from_db()
    assert user.avatar_url == ""


def test_patch_with_a_json_list_body_is_400(user_client, user):
    response = user_client.patch(f"/api/v1/users/{user.pk}", [{"display_name": "x"}])

    assert_problem(response, 400)


# --- DELETE /api/v1/users/{id} ------------------------------------------------------------


def test_delete_with_users_write_deactivates_and_rejects_the_users_tokens(
    admin_client, client_for, other_user
):
    victim = client_for(other_user)
    assert victim.get("/api/v1/me").status_code == 200

    response = admin_client.delete(f"/api/v1/users/{other_user.pk}")

    assert response.status_code == 204
    other_user.refresh_from_db()
    assert other_user.is_active is False
    assert User.objects.filter(pk=other_user.pk).exists()
    assert_problem(victim.get("/api/v1/me"), 401)


def test_deactivated_user_cannot_sign_in(admin_client, anon_client, other_user):
    admin_client.delete(f"/api/v1/users/{other_user.pk}")

    response = anon_client.post(
        "/api/v1/auth/token", {"username": other_user.username, "password": DEFAULT_PASSWORD}
    )

    assert_problem(response, 401)


def test_delete_without_users_write_is_403(user_client, other_user):
    response = user_client.delete(f"/api/v1/users/{other_user.pk}")

    assert_problem(response, 403)
    other_user.refresh_from_db()
    assert other_user.is_active is True


def test_delete_of_self_without_users_write_is_403(user_client, user):
    response = user_client.delete(f"/api/v1/users/{user.pk}")

    assert_problem(response, 403)


def test_delete_anonymous_is_401(anon_client, other_user):
    response = anon_client.delete(f"/api/v1/users/{other_user.pk}")

    assert_problem(response, 401)


def test_delete_unknown_user_is_404(admin_client):
    response = admin_client.delete(f"/api/v1/users/{uuid.uuid4()}")

    assert_problem(response, 404)


# --- POST /api/v1/me/password -------------------------------------------------------------


def change_password(client, old: str | None, new: str):
    body = {"new_password": new} if old is None else {"old_password": old, "new_password": new}
    return client.post("/api/v1/me/password", body)


def obtain_token(client, username: str, password: str):
    return client.post("/api/v1/auth/token", {"username": username, "password": password})


def test_password_change_with_wrong_old_password_is_403(user_client, user):
    response = change_password(user_client, "wrong old password", "violet sky lantern")

    body = assert_problem(response, 403)
    assert "old_password" in body["errors"]
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_password_change_without_old_password_is_400(user_client, user):
    response = change_password(user_client, None, "violet sky lantern")

    body = assert_problem(response, 400)
    assert "old_password" in body["errors"]
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("new", ["short", "1234567", "password123", "qwertyuiop"])
def test_password_change_to_short_or_common_password_is_403(user_client, user, new):
    response = change_password(user_client, DEFAULT_PASSWORD, new)

    body = assert_problem(response, 403)
    assert "new_password" in body["errors"]
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_long_unicode_passphrase_with_spaces_is_accepted_as_is_and_signs_in(
    user_client, anon_client, user
):
    passphrase = "  Grüße aus Köln — 東京の夜景 🌃 und ein sehr langer Satz mit Leerzeichen  "
    assert len(passphrase) >= 64

    response = change_password(user_client, DEFAULT_PASSWORD, passphrase)

    assert response.status_code == 204
    user.refresh_from_db()
    assert user.check_password(passphrase)
    assert not user.check_password(passphrase.strip())
    assert obtain_token(anon_client, user.username, passphrase).status_code == 200
    assert obtain_token(anon_client, user.username, passphrase.strip()).status_code == 401


@pytest.mark.parametrize("new", ["purple monkey dishwasher", "alllowercaseletters", "ÄÖÜäöüßéèêàç"])
def test_password_without_composition_rules_is_accepted(user_client, user, new):
    response = change_password(user_client, DEFAULT_PASSWORD, new)

    assert response.status_code == 204
    user.refresh_from_db()
    assert user.check_password(new)


def test_password_change_ends_other_sign_ins(user_client, anon_client, user):
    pair = obtain_token(anon_client, user.username, DEFAULT_PASSWORD).json()

    assert change_password(user_client, DEFAULT_PASSWORD, "violet sky lantern").status_code == 204

    refresh = anon_client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": pair["refresh_token"]}
    )
    assert_problem(refresh, 401)
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
    assert_problem(anon_client.get("/api/v1/me"), 401)


def test_password_change_keeps_the_callers_own_sign_in(anon_client, user):
    mine = obtain_token(anon_client, user.username, DEFAULT_PASSWORD).json()
    other = obtain_token(anon_client, user.username, DEFAULT_PASSWORD).json()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {mine['access_token']}")

    assert change_password(anon_client, DEFAULT_PASSWORD, "violet sky lantern").status_code == 204

    assert anon_client.get("/api/v1/me").status_code == 200
    anon_client.credentials()
    kept = anon_client.post("/api/v1/auth/token/refresh", {"refresh_token": mine["refresh_token"]})
    assert kept.status_code == 200
    ended = anon_client.post(
        "/api/v1/auth/token/refresh", {"refresh_token": other["refresh_token"]}
    )
    assert_problem(ended, 401)


def with_csrf(client):
    secret = "k" * 32  # an unmasked CSRF secret is accepted as the header value
    client.cookies[settings.CSRF_COOKIE_NAME] = secret
    client.credentials(HTTP_X_CSRFTOKEN=secret)
    return client


def test_password_change_by_session_keeps_that_session_and_ends_the_others(session_client, user):
    current, other = with_csrf(session_client(user)), session_client(user)

    response = change_password(current, DEFAULT_PASSWORD, "violet sky lantern")

    assert response.status_code == 204
    assert current.get("/api/v1/me").status_code == 200
    assert_problem(other.get("/api/v1/me"), 401)


def test_password_change_by_session_without_csrf_token_is_403(session_client, user):
    response = change_password(session_client(user), DEFAULT_PASSWORD, "violet sky lantern")

    assert_problem(response, 403)
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_password_change_with_unknown_field_is_400(user_client):
    response = user_client.post(
        "/api/v1/me/password",
        {"old_password": DEFAULT_PASSWORD, "new_password": "violet sky lantern", "user_id": "x"},
    )

    assert_problem(response, 400)


def test_password_change_anonymous_is_401(anon_client):
    response = change_password(anon_client, DEFAULT_PASSWORD, "violet sky lantern")

    assert_problem(response, 401)


# --- privileged accounts --------------------------------------------------------------------


def test_users_write_without_api_admin_cannot_change_an_admin_account(client_for, admin_user):
    operator = ServiceAccountFactory.create(scopes=["users:write", "users:read"])
    client = client_for(operator)

    patch = client.patch(
        f"/api/v1/users/{admin_user.pk}", {"email": "attacker@example.com"}, format="json"
    )
    delete = client.delete(f"/api/v1/users/{admin_user.pk}")

    assert_problem(patch, 403)
    assert_problem(delete, 403)
    admin_user.refresh_from_db()
    assert admin_user.is_active and admin_user.email != "attacker@example.com"


def test_users_write_without_api_admin_can_change_an_ordinary_account(client_for, other_user):
    operator = ServiceAccountFactory.create(scopes=["users:write", "users:read"])

    response = client_for(operator).patch(
        f"/api/v1/users/{other_user.pk}", {"display_name": "Renamed"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["display_name"] == "Renamed"


def test_api_admin_can_change_another_admin_account(admin_client):
    from tests.factories import AdminFactory

    second_admin = AdminFactory.create()

    response = admin_client.patch(
        f"/api/v1/users/{second_admin.pk}", {"display_name": "Ops"}, format="json"
    )

    assert response.status_code == 200


def test_batch_fast_path_matches_the_public_serializer_exactly(db):
    from accounts.api_rules import public_views
    from accounts.selectors import users_public_by_ids
    from accounts.serializers import UserPublicOut

    users = UserFactory.create_batch(3, avatar_url="https://example.com/a.png")

    rows = users_public_by_ids(ids=[str(u.pk) for u in users])

    assert public_views(rows) == [dict(UserPublicOut(u).data) for u in users]


def test_users_write_cannot_reactivate_a_deactivated_admin(client_for, admin_user):
    admin_user.is_active = False
    admin_user.save()
    operator = ServiceAccountFactory.create(scopes=["users:write", "users:read"])

    response = client_for(operator).patch(
        f"/api/v1/users/{admin_user.pk}",
        {"is_active": True, "email": "evil@example.com"},
        format="json",
    )

    assert_problem(response, 403)
    admin_user.refresh_from_db()
    assert not admin_user.is_active and admin_user.email != "evil@example.com"


def test_password_change_needs_profile_scope(client_for, user):
    response = client_for(user, frozenset({"objects:read"})).post(
        "/api/v1/me/password",
        {"old_password": DEFAULT_PASSWORD, "new_password": "a fresh long passphrase"},
        format="json",
    )

    assert_problem(response, 403)
