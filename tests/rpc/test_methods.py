"""The Micro-compatible RPC facade `/user/<method>`."""

from __future__ import annotations

import json
import uuid

import pytest
from django.apps import apps
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.test import Client

from accounts.models import User
from authn.models import Session
from tests.conftest import token_for
from tests.factories import DEFAULT_PASSWORD, UserFactory

PROBLEM_TYPE = "application/problem+json"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"  # a well-formed id no user has
PUBLIC_KEYS = {"id", "username", "display_name", "avatar_url", "kind", "created_at"}
PRIVATE_KEYS = PUBLIC_KEYS | {"email", "email_verified", "is_active", "last_login_at"}


def rpc(client, method: str, body: dict | None = None, *, user: User | None = None, http="POST"):
    """Calls `/user/<method>` the Micro gateway way: a JSON body whatever the verb."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"} if user else {}
    return client.generic(
        http, f"/user/{method}", json.dumps(body or {}), content_type="application/json", **headers
    )


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM_TYPE)
    body = response.json()
    assert {"type", "title", "status", "detail", "code"} <= set(body)
    return body


def login(client, user: User, password: str = DEFAULT_PASSWORD) -> dict:
    response = rpc(client, "login", {"username": user.username, "password": password})
    assert response.status_code == 200, response.content
    return response.json()["session"]


# --- read ---------------------------------------------------------------------------------


def test_seed_example_get_with_form_labelled_json_body_reads_a_user(anon_client, user, other_user):
    response = anon_client.generic(
        "GET",
        "/user/read",
        f'{{"id": "{other_user.pk}"}}',
        content_type="application/x-www-form-urlencoded",
        HTTP_AUTHORIZATION=f"Bearer {token_for(user)}",
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"user"}
    assert body["user"]["id"] == str(other_user.pk)
    assert set(body["user"]) == PUBLIC_KEYS


@pytest.mark.parametrize("method", ["READ", "Read", "rEaD"])
def test_method_names_are_case_insensitive(anon_client, user, other_user, method):
    response = rpc(anon_client, method, {"id": str(other_user.pk)}, user=user)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(other_user.pk)


def test_read_of_self_is_the_private_view(anon_client, user):
    response = rpc(anon_client, "read", {"id": str(user.pk)}, user=user, http="GET")

    assert response.status_code == 200
    assert set(response.json()["user"]) == PRIVATE_KEYS


def test_read_by_username_is_case_insensitive(anon_client, user, other_user):
    response = rpc(anon_client, "read", {"username": other_user.username.upper()}, user=user)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(other_user.pk)


def test_read_by_email_with_users_write_finds_the_user(anon_client, admin_user, other_user):
    response = rpc(anon_client, "read", {"email": other_user.email}, user=admin_user)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(other_user.pk)
    assert response.json()["user"]["email"] == other_user.email


def test_read_by_email_without_users_write_is_403_saying_what_it_needs(
    anon_client, user, other_user
):
    response = rpc(anon_client, "read", {"email": other_user.email}, user=user)

    body = assert_problem(response, 403)
    assert body["code"] == "insufficient_scope"
    assert "A lookup by email needs users:write" in body["detail"]
    assert other_user.email not in json.dumps(body)


def test_read_by_unknown_email_and_by_others_email_look_the_same(anon_client, user, other_user):
    known = rpc(anon_client, "read", {"email": other_user.email}, user=user)
    unknown = rpc(anon_client, "read", {"email": "nobody@example.com"}, user=user)

    assert known.status_code == unknown.status_code == 403
    assert known.json() == unknown.json()


def test_read_by_own_email_without_users_write_finds_self(anon_client, user):
    response = rpc(anon_client, "read", {"email": user.email.upper()}, user=user)

    assert response.status_code == 200, response.content
    assert response.json()["user"]["id"] == str(user.pk)


def test_read_by_unknown_email_with_users_write_is_404(anon_client, admin_user):
    body = assert_problem(
        rpc(anon_client, "read", {"email": "nobody@example.com"}, user=admin_user), 404
    )
    assert body["code"] == "user_not_found"


def test_read_with_the_id_in_the_query_string_says_it_belongs_in_the_json_body(
    anon_client, user, other_user
):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token_for(user)}"}

    response = anon_client.get(f"/user/read?id={other_user.pk}", **headers)

    body = assert_problem(response, 400)
    (hint,) = body["errors"]["id"]
    assert "in the JSON body" in hint
    assert "The query string is not read." in hint


def test_read_without_arguments_says_they_belong_in_the_json_body(anon_client, user):
    body = assert_problem(rpc(anon_client, "read", {}, user=user), 400)

    (hint,) = body["errors"]["id"]
    assert "in the JSON body" in hint
    assert "query string" not in hint


def test_a_method_refused_for_its_scopes_names_the_missing_one(anon_client, user, client_for):
    created = rpc(anon_client, "create", {"username": "x"}, user=user)
    client = client_for(user, scopes=frozenset({"users:read"}))
    updated = client.generic(
        "POST", "/user/update", json.dumps({"id": str(user.pk)}), "application/json"
    )

    assert assert_problem(created, 403)["detail"] == "The credential lacks: users:write."
    body = assert_problem(updated, 403)
    assert (body["code"], body["detail"]) == (
        "insufficient_scope",
        "The credential lacks one of: profile users:write.",
    )


@pytest.mark.parametrize("body", [{"id": UNKNOWN_ID}, {"id": "nope"}, {"username": "zz"}])
def test_read_of_unknown_user_is_404(anon_client, user, body):
    assert_problem(rpc(anon_client, "read", body, user=user), 404)


def test_read_without_a_key_is_400(anon_client, user):
    assert_problem(rpc(anon_client, "read", {}, user=user), 400)


def test_read_without_users_read_is_403(anon_client, user, other_user, client_for):
    client = client_for(user, scopes=frozenset({"profile"}))

    response = client.generic(
        "POST", "/user/read", json.dumps({"id": str(other_user.pk)}), "application/json"
    )

    assert_problem(response, 403)


def test_read_anonymous_is_401(anon_client, other_user):
    response = rpc(anon_client, "read", {"id": str(other_user.pk)})

    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- create / update / delete / list ------------------------------------------------------


def test_create_with_users_write_returns_the_private_view(anon_client, admin_user):
    response = rpc(
        anon_client,
        "create",
        {"username": "rpcuser", "email": "rpc@example.com", "password": "violet sky lantern"},
        user=admin_user,
    )

    assert response.status_code == 200
    assert set(response.json()["user"]) == PRIVATE_KEYS
    assert User.objects.get(username="rpcuser").check_password("violet sky lantern")


def test_create_with_unknown_field_is_400(anon_client, admin_user):
    response = rpc(anon_client, "create", {"username": "x1", "is_staff": True}, user=admin_user)

    assert_problem(response, 400)
    assert not User.objects.filter(username="x1").exists()


def test_create_with_weak_password_is_403(anon_client, admin_user):
    response = rpc(
        anon_client, "create", {"username": "x2", "password": "password123"}, user=admin_user
    )

    assert assert_problem(response, 403)["code"] == "password_policy"


def test_create_of_a_service_account_with_a_password_is_400(anon_client, admin_user):
    response = rpc(
        anon_client,
        "create",
        {"username": "svc", "kind": "service", "password": "violet sky lantern"},
        user=admin_user,
    )

    assert_problem(response, 400)
    assert not User.objects.filter(username="svc").exists()


def test_create_without_users_write_is_403(anon_client, user):
    response = rpc(anon_client, "create", {"username": "x3"}, user=user)

    assert_problem(response, 403)
    assert not User.objects.filter(username="x3").exists()


def test_create_anonymous_is_401(anon_client, db):
    assert_problem(rpc(anon_client, "create", {"username": "x4"}), 401)
    assert not User.objects.filter(username="x4").exists()


def test_update_of_self_changes_display_name(anon_client, user):
    response = rpc(
        anon_client, "update", {"id": str(user.pk), "display_name": "Via RPC"}, user=user
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.display_name == "Via RPC"


def test_update_of_self_with_privileged_field_is_400(anon_client, user):
    response = rpc(anon_client, "update", {"id": str(user.pk), "is_staff": True}, user=user)

    assert_problem(response, 400)
    user.refresh_from_db()
    assert user.is_staff is False


def test_update_of_another_user_without_users_write_is_403(anon_client, user, other_user):
    response = rpc(
        anon_client, "update", {"id": str(other_user.pk), "display_name": "pwned"}, user=user
    )

    assert_problem(response, 403)
    other_user.refresh_from_db()
    assert other_user.display_name != "pwned"


def test_update_by_admin_may_rename(anon_client, admin_user, other_user):
    response = rpc(
        anon_client, "update", {"id": str(other_user.pk), "username": "renamed"}, user=admin_user
    )

    assert response.status_code == 200
    assert response.json()["user"]["username"] == "renamed"


def test_update_anonymous_is_401(anon_client, user):
    assert_problem(rpc(anon_client, "update", {"id": str(user.pk), "display_name": "x"}), 401)


def test_delete_with_users_write_deactivates(anon_client, admin_user, other_user):
    response = rpc(anon_client, "delete", {"id": str(other_user.pk)}, user=admin_user)

    assert response.status_code == 200
    assert response.json() == {}
    other_user.refresh_from_db()
    assert other_user.is_active is False


def test_delete_without_users_write_is_403(anon_client, user, other_user):
    assert_problem(rpc(anon_client, "delete", {"id": str(other_user.pk)}, user=user), 403)
    other_user.refresh_from_db()
    assert other_user.is_active is True


def test_delete_anonymous_is_401(anon_client, other_user):
    assert_problem(rpc(anon_client, "delete", {"id": str(other_user.pk)}), 401)


def test_delete_unknown_user_is_404(anon_client, admin_user):
    assert_problem(rpc(anon_client, "delete", {"id": str(uuid.uuid4())}, user=admin_user), 404)


def test_list_with_users_write_honours_offset_and_limit(anon_client, admin_user):
    UserFactory.create_batch(4)

    first = rpc(anon_client, "list", {"offset": 0, "limit": 2}, user=admin_user).json()["users"]
    rest = rpc(anon_client, "list", {"offset": 2, "limit": 100}, user=admin_user).json()["users"]

    assert len(first) == 2
    assert len(rest) == User.objects.count() - 2
    assert not {u["id"] for u in first} & {u["id"] for u in rest}


@pytest.mark.parametrize("body", [{"limit": 101}, {"limit": -1}, {"offset": "a"}, {"limit": True}])
def test_list_with_out_of_range_paging_is_400(anon_client, admin_user, body):
    assert_problem(rpc(anon_client, "list", body, user=admin_user), 400)


def test_list_without_users_write_is_403(anon_client, user):
    assert_problem(rpc(anon_client, "list", {}, user=user), 403)


def test_list_anonymous_is_401(anon_client, db):
    assert_problem(rpc(anon_client, "list", {}), 401)


# --- login / sessions ---------------------------------------------------------------------


def test_login_returns_a_session_and_stores_only_its_hash(anon_client, user):
    session = login(anon_client, user)

    assert set(session) == {"id", "userId", "created", "expires"}
    assert session["userId"] == str(user.pk)
    assert session["expires"] > session["created"]
    row = Session.objects.get(user=user)
    assert row.secret_hash != session["id"]
    assert session["id"] not in row.secret_hash


def test_no_database_row_contains_the_session_id(anon_client, user):
    secret = login(anon_client, user)["id"]

    for model in apps.get_models():
        for row in model._default_manager.values():
            assert secret not in json.dumps(row, cls=DjangoJSONEncoder), model.__name__


def test_login_by_email_case_insensitively(anon_client, user):
    response = rpc(
        anon_client, "login", {"email": user.email.upper(), "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 200
    assert response.json()["session"]["userId"] == str(user.pk)


def test_login_with_wrong_password_and_unknown_user_look_the_same(anon_client, user):
    wrong = rpc(anon_client, "login", {"username": user.username, "password": "wrong password"})
    unknown = rpc(anon_client, "login", {"username": "nobody", "password": "wrong password"})

    assert_problem(wrong, 401)
    assert wrong.status_code == unknown.status_code
    assert wrong.json() == unknown.json()
    assert wrong.json()["code"] == "invalid_credentials"
    assert not Session.objects.exists()


def test_login_without_password_is_400(anon_client, user):
    assert_problem(rpc(anon_client, "login", {"username": user.username}), 400)


def test_read_session_returns_the_live_session(anon_client, user):
    session = login(anon_client, user)

    response = rpc(anon_client, "readSession", {"sessionId": session["id"]})

    assert response.status_code == 200
    assert response.json() == {"session": session}


def test_read_session_method_name_is_case_insensitive(anon_client, user):
    session = login(anon_client, user)

    response = rpc(anon_client, "READSESSION", {"sessionId": session["id"]})

    assert response.status_code == 200


def test_read_session_of_unknown_id_is_404(anon_client, db):
    assert_problem(rpc(anon_client, "readSession", {"sessionId": "mss_unknown"}), 404)


def test_verify_token_of_a_live_session_is_valid(anon_client, user):
    session = login(anon_client, user)

    response = rpc(anon_client, "verifyToken", {"token": session["id"]})

    assert response.status_code == 200
    body = response.json()
    assert body["is_valid"] is True
    assert body["session"]["userId"] == str(user.pk)


@pytest.mark.parametrize("token", ["garbage", "mss_" + "x" * 43, "x" * 5000])
def test_verify_token_of_garbage_is_not_valid(anon_client, token, db):
    response = rpc(anon_client, "verifyToken", {"token": token})

    assert response.status_code == 200
    body = response.json()
    assert body["is_valid"] is False
    assert body["session"] is None


def test_logout_ends_the_session(anon_client, user):
    session = login(anon_client, user)

    assert rpc(anon_client, "logout", {"sessionId": session["id"]}).status_code == 200

    assert_problem(rpc(anon_client, "readSession", {"sessionId": session["id"]}), 404)
    assert rpc(anon_client, "verifyToken", {"token": session["id"]}).json()["is_valid"] is False


def test_deactivated_users_session_is_no_longer_valid(anon_client, admin_user, user):
    session = login(anon_client, user)

    rpc(anon_client, "delete", {"id": str(user.pk)}, user=admin_user)

    assert_problem(rpc(anon_client, "readSession", {"sessionId": session["id"]}), 404)


# --- updatePassword -----------------------------------------------------------------------


def test_update_password_of_self_with_old_password_succeeds(anon_client, user):
    response = rpc(
        anon_client,
        "updatePassword",
        {"oldPassword": DEFAULT_PASSWORD, "newPassword": "violet sky lantern"},
        user=user,
    )

    assert response.status_code == 200
    user.refresh_from_db()
    assert user.check_password("violet sky lantern")


def test_update_password_ends_rpc_sessions(anon_client, user):
    session = login(anon_client, user)

    rpc(
        anon_client,
        "updatePassword",
        {"oldPassword": DEFAULT_PASSWORD, "newPassword": "violet sky lantern"},
        user=user,
    )

    assert_problem(rpc(anon_client, "readSession", {"sessionId": session["id"]}), 404)


@pytest.mark.parametrize(
    "body",
    [
        {"newPassword": "violet sky lantern"},
        {"oldPassword": "not my password", "newPassword": "violet sky lantern"},
        {"oldPassword": DEFAULT_PASSWORD, "newPassword": "short"},
        {
            "oldPassword": DEFAULT_PASSWORD,
            "newPassword": "violet sky lantern",
            "confirmPassword": "different",
        },
    ],
)
def test_update_password_without_correct_old_password_or_valid_new_one_is_refused(
    anon_client, user, body
):
    # A missing or mismatched field is a 400; a wrong current password or one the policy
    # refuses is a 403 (`wrong_password`, `password_policy`).
    refused = "oldPassword" in body and "confirmPassword" not in body
    assert_problem(rpc(anon_client, "updatePassword", body, user=user), 403 if refused else 400)
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


def test_update_password_of_another_user_is_403(anon_client, user, other_user):
    response = rpc(
        anon_client,
        "updatePassword",
        {
            "userId": str(other_user.pk),
            "oldPassword": DEFAULT_PASSWORD,
            "newPassword": "violet sky lantern",
        },
        user=user,
    )

    assert_problem(response, 403)
    other_user.refresh_from_db()
    assert other_user.check_password(DEFAULT_PASSWORD)


def test_update_password_anonymous_is_401(anon_client, db):
    body = {"oldPassword": DEFAULT_PASSWORD, "newPassword": "violet sky lantern"}

    assert_problem(rpc(anon_client, "updatePassword", body), 401)


# --- errors -------------------------------------------------------------------------------


def test_unknown_method_is_404_problem(anon_client, user):
    body = assert_problem(rpc(anon_client, "dropTables", {}, user=user), 404)

    assert body["code"] == "unknown_method"


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"a string"', "\xff"])
def test_invalid_json_body_is_400_problem(anon_client, user, raw):
    response = anon_client.generic(
        "POST",
        "/user/read",
        raw.encode("latin-1"),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(user)}",
    )

    body = assert_problem(response, 400)
    assert "body" in body["errors"]


# --- Hostile input is a 4xx, never a 5xx --------------------------------------------------


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("read", {"username": "a\x00b"}),
        ("read", {"email": "a\x00b@example.com"}),
        ("login", {"username": "a\x00b", "password": "whatever1"}),
        ("login", {"email": "a\x00b@example.com", "password": "whatever1"}),
        ("readSession", {"sessionId": "mss_\x00"}),
    ],
)
def test_nul_character_in_a_string_is_a_400_like_rest(anon_client, admin_user, method, body):
    response = rpc(anon_client, method, body, user=admin_user)

    problem = assert_problem(response, 400)
    assert problem["code"] == "null_characters_not_allowed"


# --- cross-site and URL-borne input (security review) ----------------------------------------


def test_query_string_is_never_read_as_rpc_input(anon_client, user):
    response = anon_client.get(
        f"/user/login?username={user.username}&password={DEFAULT_PASSWORD.replace(' ', '+')}"
    )

    assert_problem(response, 400)
    assert not Session.objects.filter(user=user).exists()


def test_cookie_authenticated_change_over_get_is_refused(session_client, user):
    client = session_client(user)

    response = client.generic(
        "GET",
        "/user/update",
        json.dumps({"id": str(user.pk), "display_name": "Forged"}),
        content_type="application/json",
    )

    assert_problem(response, 403)
    user.refresh_from_db()
    assert user.display_name != "Forged"


def test_cookie_authenticated_read_over_get_is_allowed(session_client, user):
    response = session_client(user).generic(
        "GET", "/user/read", json.dumps({"id": str(user.pk)}), content_type="application/json"
    )

    assert response.status_code == 200


def test_bearer_change_over_get_is_allowed_micro_style(anon_client, user):
    response = rpc(
        anon_client,
        "update",
        {"id": str(user.pk), "display_name": "Via GET"},
        user=user,
        http="GET",
    )

    assert response.status_code == 200
    assert response.json()["user"]["display_name"] == "Via GET"


def test_login_with_overlong_password_is_rejected_not_truncated(anon_client, user):
    response = rpc(anon_client, "login", {"username": user.username, "password": "x" * 257})

    assert_problem(response, 400)


def test_update_password_needs_profile_scope(anon_client, client_for, user):
    client = client_for(user, frozenset({"objects:read"}))

    response = client.generic(
        "POST",
        "/user/updatePassword",
        json.dumps({"oldPassword": DEFAULT_PASSWORD, "newPassword": "a fresh long passphrase"}),
        content_type="application/json",
    )

    assert_problem(response, 403)


# --- Issue 11: HEAD is not a way around CSRF; overlong input is refused, not cut short -------


@pytest.mark.parametrize("http", ["HEAD", "GET"])
def test_cookie_authenticated_change_over_head_or_get_is_refused(session_client, user, http):
    response = session_client(user).generic(
        http,
        "/user/update",
        json.dumps({"id": str(user.pk), "display_name": "Forged"}),
        content_type="application/json",
    )

    assert response.status_code == 403
    user.refresh_from_db()
    assert user.display_name != "Forged"


def test_cookie_authenticated_read_over_head_is_allowed(session_client, user):
    response = session_client(user).generic(
        "HEAD", "/user/read", json.dumps({"id": str(user.pk)}), content_type="application/json"
    )

    assert response.status_code == 200


def test_an_overlong_username_is_refused_not_cut_to_another_users(anon_client, user, db):
    UserFactory.create(username="a" * 150)

    response = rpc(anon_client, "read", {"username": "a" * 150 + "b"}, user=user)

    assert assert_problem(response, 400)["code"] == "max_length"


def test_an_overlong_email_is_refused_not_cut_to_another_users(anon_client, admin_user, db):
    local = "a" * 64
    victim = UserFactory.create(email=f"{local}@{'b' * 181}.example")
    assert len(victim.email) == 254

    response = rpc(anon_client, "read", {"email": victim.email + "x"}, user=admin_user)

    assert assert_problem(response, 400)["code"] == "max_length"


def test_an_overlong_otp_is_refused(anon_client, user):
    body = {"username": user.username, "password": DEFAULT_PASSWORD, "otp": "1" * 65}

    response = rpc(anon_client, "login", body)

    assert assert_problem(response, 400)["code"] == "max_length"
    assert not Session.objects.filter(user=user).exists()


@pytest.mark.parametrize("verb", ["PUT", "PATCH", "DELETE", "OPTIONS"])
@pytest.mark.parametrize("name", ["read", "login", "no-such-method"])
def test_a_verb_the_facade_does_not_answer_is_405_for_any_method(db, client, verb, name):
    """GET and POST only; another verb is refused as such before the method or the credential
    is looked at, as a REST view refuses it."""
    response = client.generic(verb, f"/user/{name}")
    assert response.status_code == 405


@pytest.mark.parametrize("charset", ["utf-16", "utf-7", "rot13", "latin-1"])
def test_the_body_is_utf_8_whatever_charset_the_content_type_names(db, client, charset):
    """JSON is UTF-8: a charset parameter neither breaks a UTF-8 body nor lets another
    encoding (UTF-7's `+AGQ-`, say) spell characters the raw bytes do not hold."""
    response = client.generic(
        "POST",
        "/user/verifytoken",
        json.dumps({"token": "+AGQ-"}).encode(),  # sent as these bytes, whatever the label
        content_type=f"application/json; charset={charset}",
    )
    assert response.status_code == 200, response.content
    assert response.json()["is_valid"] is False


def test_a_session_caller_may_label_the_json_body_as_anything(db, user):
    """The facade reads JSON whatever the Content-Type, for a cookie caller too (the CSRF token
    is still required: a cross-site form cannot send it)."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    token = "c" * 32  # a CSRF secret of the cookie's form; the header must repeat it
    browser.cookies[settings.CSRF_COOKIE_NAME] = token
    body = json.dumps({"id": str(user.pk)})
    for label in ("text/plain", "application/x-www-form-urlencoded"):
        refused = browser.post("/user/read", data=body, content_type=label)
        assert refused.status_code == 403, label
        answered = browser.post("/user/read", data=body, content_type=label, HTTP_X_CSRFTOKEN=token)
        assert answered.status_code == 200, (label, answered.content)
        assert answered.json()["user"]["id"] == str(user.pk)
