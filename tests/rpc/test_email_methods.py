"""The RPC facade's email methods: who may call them and how they parse input."""

from __future__ import annotations

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from accounts import email_flows
from accounts.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, User
from tests.accounts.email_helpers import rpc
from tests.factories import UserFactory

METHODS = ["sendVerificationEmail", "verifyEmail", "sendPasswordResetEmail", "resetPassword"]


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.mark.parametrize("method", ["SENDPASSWORDRESETEMAIL", "sendpasswordresetemail"])
def test_method_names_are_case_insensitive(db, commit, method):
    UserFactory.create(email="kim@example.com", email_verified=True)

    with commit(execute=True):
        response = rpc(APIClient(), method, {"email": "kim@example.com"})

    assert response.status_code == 200
    assert len(mail.outbox) == 1


def test_anonymous_callers_may_use_every_email_method(db, commit):
    user = UserFactory.create(email="kim@example.com")
    client = APIClient()
    verify_token = email_flows.email_verification_token(user=user)
    uid = email_flows.password_reset_uid(user)
    code = f"{uid}.{email_flows.password_reset_tokens.make_token(user)}"

    with commit(execute=True):
        answers = [
            rpc(client, "sendVerificationEmail", {"email": "kim@example.com"}),
            rpc(client, "verifyEmail", {"token": verify_token}),
            rpc(client, "sendPasswordResetEmail", {"email": "kim@example.com"}),
            rpc(client, "resetPassword", {"token": code, "password": "another good passphrase"}),
        ]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 200]


def test_bearer_callers_may_use_get_the_micro_way(user, commit):
    User.objects.filter(pk=user.pk).update(email_verified=True)
    with commit(execute=True):
        response = rpc(
            APIClient(), "sendPasswordResetEmail", {"email": user.email}, user=user, http="GET"
        )

    assert response.status_code == 200
    assert len(mail.outbox) == 1


@pytest.mark.parametrize("method", METHODS)
def test_session_cookie_callers_must_post(user, session_client, method):
    response = rpc(session_client(user), method, {"email": user.email}, http="GET")

    assert response.status_code == 403
    assert response.json()["code"] == "post_required"
    assert mail.outbox == []


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("body", ["[]", '"text"', "{not json", "null"])
def test_a_body_that_is_not_a_json_object_is_a_400(db, method, body):
    response = rpc(APIClient(), method, body)

    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")


def test_micro_free_text_fields_are_ignored_so_this_is_no_open_relay(db, commit):
    UserFactory.create(email="kim@example.com", email_verified=False)
    body = {
        "email": "kim@example.com",
        "subject": "Your invoice",
        "textContent": "Pay at https://evil.example/ $micro_verification_link",
        "fromName": "Bank",
    }

    with commit(execute=True):
        response = rpc(APIClient(), "sendVerificationEmail", body)

    assert response.status_code == 200
    message = mail.outbox[0]
    assert message.subject == "Confirm your email address"
    assert "evil.example" not in message.body and "Bank" not in message.from_email


def test_the_schema_lists_the_email_methods(admin_client):
    response = admin_client.get("/api/schema/?format=json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for name in ("sendverificationemail", "verifyemail", "sendpasswordresetemail", "resetpassword"):
        assert "requestBody" in paths[f"/user/{name}"]["post"]


# An address as long as an account's may be (the model's max_length), and one character more.
LONGEST = "a" * (EMAIL_MAX_LENGTH - len("@example.com")) + "@example.com"


def test_email_limits_come_from_the_model():
    assert User._meta.get_field("email").max_length == EMAIL_MAX_LENGTH
    assert User._meta.get_field("username").max_length == USERNAME_MAX_LENGTH
    assert len(LONGEST) == EMAIL_MAX_LENGTH


@pytest.mark.parametrize("method", ["sendVerificationEmail", "sendPasswordResetEmail"])
def test_an_overlong_address_is_a_400_never_cut_to_an_accounts(db, commit, method):
    UserFactory.create(email=LONGEST, email_verified=False)
    UserFactory.create(email=LONGEST.replace("a", "b", 1), email_verified=True)

    with commit(execute=True):
        response = rpc(APIClient(), method, {"email": LONGEST + "x"})

    assert response.status_code == 400
    assert response.json()["code"] == "max_length"
    assert mail.outbox == []


@pytest.mark.parametrize(
    "flow", [email_flows.email_verification_request, email_flows.password_reset_send]
)
def test_the_email_flows_refuse_an_overlong_address_for_every_caller(db, commit, flow):
    # Cut to 254 characters, each variant would reach the account while the per-address
    # throttle counted every variant apart: unlimited mail to one address.
    UserFactory.create(email=LONGEST, email_verified=True)

    with commit(execute=True), pytest.raises(ValidationError):
        flow(email=LONGEST + "x", ip_address="203.0.113.9")

    assert mail.outbox == []
