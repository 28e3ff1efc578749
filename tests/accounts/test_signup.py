"""Self sign-up: `POST /api/v1/signup` and `/accounts/signup/`."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from tests.accounts.email_helpers import (
    csrf_client,
    only_email_to,
    post_form,
    verification_token,
)
from tests.factories import UserFactory

URL = "/api/v1/signup"
PAGE = "/accounts/signup/"
PRIVATE_KEYS = {
    "id", "username", "display_name", "avatar_url", "kind", "created_at",
    "email", "email_verified", "is_active", "last_login_at",
}  # fmt: skip
GOOD = {"username": "ada", "email": "ada@example.com", "password": "analytical engine 1843"}


@pytest.fixture
def signup_open(settings):
    settings.MICRO_SIGNUP_OPEN = True


def sign_up(body, *, commit, ip="203.0.113.7"):
    with commit(execute=True):
        return APIClient().post(URL, body, format="json", REMOTE_ADDR=ip)


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


# --- API: allow ---------------------------------------------------------------------------


def test_anonymous_sign_up_creates_an_unverified_user_and_answers_the_private_view(
    db, signup_open, commit
):
    response = sign_up({**GOOD, "display_name": "Ada L."}, commit=commit)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == PRIVATE_KEYS
    assert (body["username"], body["email"], body["display_name"]) == (
        "ada",
        "ada@example.com",
        "Ada L.",
    )
    assert body["email_verified"] is False and body["kind"] == "user"
    user = User.objects.get(pk=body["id"])
    assert user.check_password(GOOD["password"])
    assert not user.is_staff and not user.is_superuser and user.scopes == []


def test_sign_up_sends_one_verification_email_with_a_working_link(db, signup_open, commit):
    sign_up(GOOD, commit=commit)

    message = only_email_to("ada@example.com")
    assert len(mail.outbox) == 1
    assert message.to == ["ada@example.com"]
    assert message.from_email == "Micro <no-reply@localhost>"
    assert "http://127.0.0.1:8000/accounts/verify-email/" in message.body
    assert message.alternatives and "verify-email" in str(message.alternatives[0][0])
    token = verification_token("ada@example.com")
    client = APIClient()
    assert client.post("/user/verifyEmail", {"token": token}, format="json").status_code == 200
    assert User.objects.get(username="ada").email_verified


def test_sign_up_is_audited_as_user_created_without_the_password(db, signup_open, commit):
    response = sign_up(GOOD, commit=commit)

    event = AuditEvent.objects.get(type="user.created")
    assert event.actor_id is None  # nobody signed in: a self sign-up
    assert event.subject_id == response.json()["id"]
    assert event.ip_address == "203.0.113.7"
    assert GOOD["password"] not in str(event.data)


def test_signed_in_caller_may_also_sign_up_a_new_account(user_client, signup_open, commit):
    with commit(execute=True):
        response = user_client.post(URL, GOOD, format="json")

    assert response.status_code == 201


# --- API: deny (closed) -------------------------------------------------------------------


def test_closed_sign_up_answers_403_and_creates_nothing(db, commit):
    response = sign_up(GOOD, commit=commit)

    assert response.status_code == 403
    assert response["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "signup_closed"
    assert not User.objects.filter(username="ada").exists()
    assert mail.outbox == []


def test_closed_sign_up_answers_403_even_to_bad_input(db, commit):
    assert sign_up({"nonsense": True}, commit=commit).status_code == 403


# --- API: bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"email": ""}, "email"),
        ({"email": "not-an-address"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "password123"}, "password"),  # a common password
        ({"password": "x" * 257}, "password"),
        ({"username": "has@sign"}, "username"),
        ({"username": "a" * 151}, "username"),
        ({"username": "nul\x00"}, "username"),
        ({"is_superuser": True}, "is_superuser"),  # privileged fields are unknown here
        ({"scopes": ["api_admin"]}, "scopes"),
        ({"kind": "service"}, "kind"),
        ({"email_verified": True}, "email_verified"),
    ],
)
def test_bad_input_is_a_400_problem_naming_the_field(db, signup_open, commit, change, field):
    response = sign_up({**GOOD, **change}, commit=commit)

    # A password of the right form that the policy refuses is a 403 `password_policy`.
    refused = change.get("password") in ("short", "password123")
    assert response.status_code == (403 if refused else 400), response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in response.json()["errors"]
    assert not User.objects.filter(username__in=["ada", GOOD["username"]]).exists()
    assert mail.outbox == []


@pytest.mark.parametrize("missing", ["username", "email", "password"])
def test_required_fields(db, signup_open, commit, missing):
    body = {key: value for key, value in GOOD.items() if key != missing}

    response = sign_up(body, commit=commit)

    assert response.status_code == 400
    assert missing in response.json()["errors"]


def test_password_similar_to_the_username_is_rejected(db, signup_open, commit):
    body = {
        "username": "margaret.hamilton",
        "email": "m@example.com",
        "password": "margaret.hamilton",
    }

    response = sign_up(body, commit=commit)

    assert response.status_code == 403
    assert response.json()["code"] == "password_policy"
    assert "password" in response.json()["errors"]


def test_non_json_body_is_a_400(db, signup_open):
    response = APIClient().post(URL, "{oops", content_type="application/json")

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("taken", "field"), [({"username": "ADA"}, "username"), ({"email": "ADA@example.com"}, "email")]
)
def test_taken_username_or_email_is_a_409_unique_and_sends_nothing(
    db, signup_open, commit, taken, field
):
    UserFactory.create(**{"username": "someone", "email": "someone@example.com", **taken})

    response = sign_up(GOOD, commit=commit)

    assert response.status_code == 409
    assert response.json()["code"] == "unique"
    assert field in response.json()["errors"]
    assert mail.outbox == []


def test_sign_ups_are_throttled_per_client_ip(db, signup_open, commit):
    for number in range(10):
        body = {**GOOD, "username": f"u{number}", "email": f"u{number}@example.com"}
        assert sign_up(body, commit=commit).status_code == 201

    response = sign_up({**GOOD, "username": "u10", "email": "u10@example.com"}, commit=commit)
    other_ip = sign_up(
        {**GOOD, "username": "u11", "email": "u11@example.com"}, commit=commit, ip="198.51.100.1"
    )

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["code"] == "throttled"
    assert other_ip.status_code == 201


# --- Dashboard page ------------------------------------------------------------------------


def test_page_shows_a_csrf_protected_form(db, signup_open):
    response = csrf_client().get(PAGE)

    assert response.status_code == 200
    content = response.content.decode()
    assert 'name="csrfmiddlewaretoken"' in content
    for field in ("username", "email", "password", "display_name"):
        assert f'name="{field}"' in content


def test_page_signs_up_and_sends_the_verification_email(db, signup_open, commit):
    with commit(execute=True):
        response = post_form(csrf_client(), PAGE, {**GOOD, "display_name": ""})

    assert response.status_code == 200
    assert b"Check your email" in response.content
    assert User.objects.filter(username="ada", email_verified=False).exists()
    assert verification_token("ada@example.com")


def test_page_post_without_csrf_token_is_refused(db, signup_open):
    response = csrf_client().post(PAGE, GOOD)

    assert response.status_code == 403
    assert not User.objects.filter(username="ada").exists()


def test_page_shows_field_errors_for_weak_password_and_taken_username(db, signup_open):
    UserFactory.create(username="ada")
    client = csrf_client()

    taken = post_form(client, PAGE, GOOD)
    weak = post_form(client, PAGE, {**GOOD, "username": "new", "password": "password"})

    assert taken.status_code == weak.status_code == 200
    assert b"already exists" in taken.content
    assert b"too common" in weak.content
    assert User.objects.count() == 1


def test_page_is_403_while_sign_up_is_closed(db):
    client = csrf_client()

    assert client.get(PAGE).status_code == 403
    assert client.post(PAGE, GOOD).status_code == 403
    assert not User.objects.filter(username="ada").exists()


def test_page_rejects_other_methods(db, signup_open):
    assert Client().put(PAGE).status_code == 405


def test_page_empty_post_shows_required_errors(db, signup_open):
    response = post_form(csrf_client(), PAGE, {})

    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert User.objects.count() == 0
