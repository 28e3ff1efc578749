"""Email verification: tokens bound to the user and the address, single-use, expiring."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.core import mail, signing
from django.test import Client
from rest_framework.test import APIClient

from accounts import email_flows, services
from accounts.models import User
from accounts.principals import principal_for_user
from audit.models import AuditEvent
from authn.models import DashboardSession
from tests.accounts.email_helpers import (
    VERIFY_LINK,
    csrf_client,
    csrf_token_of,
    only_email_to,
    rpc,
    verification_token,
)
from tests.factories import UserFactory


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def unverified(db) -> User:
    return UserFactory.create(email="grace@example.com", email_verified=False)


def mint(user: User) -> str:
    return email_flows.email_verification_token(user=user)


def verify(token: str):
    return rpc(APIClient(), "verifyEmail", {"token": token})


def assert_invalid(response) -> None:
    # The emailed token is the credential: an invalid one is refused (403), not malformed input.
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "invalid_token"
    assert "token" in response.json()["errors"]


# --- verifyEmail -----------------------------------------------------------------------------


def test_valid_token_verifies_the_address_and_is_audited(unverified):
    response = verify(mint(unverified))

    assert response.status_code == 200
    assert response.json() == {}
    unverified.refresh_from_db()
    assert unverified.email_verified
    event = AuditEvent.objects.get(type="email.verified")
    assert event.subject_id == str(unverified.pk) and event.actor_id == unverified.pk


def test_token_works_once(unverified):
    token = mint(unverified)

    assert verify(token).status_code == 200
    assert_invalid(verify(token))
    assert AuditEvent.objects.filter(type="email.verified").count() == 1


def minted_ago(user: User, seconds: int, monkeypatch: pytest.MonkeyPatch) -> str:
    """A token as if minted `seconds` ago (the signer's timestamp moved back)."""
    with monkeypatch.context() as patch:
        then = signing.b62_encode(int(time.time()) - seconds)
        patch.setattr(signing.TimestampSigner, "timestamp", lambda self: then)
        return mint(user)


def test_token_expires_after_three_days(unverified, monkeypatch):
    token = minted_ago(unverified, 3 * 24 * 3600 + 5, monkeypatch)

    assert_invalid(verify(token))
    unverified.refresh_from_db()
    assert not unverified.email_verified


def test_token_two_days_old_still_works(unverified, monkeypatch):
    token = minted_ago(unverified, 2 * 24 * 3600, monkeypatch)

    assert verify(token).status_code == 200


def test_token_is_void_after_an_email_change(unverified, admin_user):
    token = mint(unverified)
    services.user_update(
        actor=principal_for_user(admin_user, method="jwt"),
        user=unverified,
        changes={"email": "grace.new@example.com"},
    )

    assert_invalid(verify(token))
    unverified.refresh_from_db()
    assert not unverified.email_verified


def test_token_of_one_user_does_not_verify_another(unverified, db):
    other = UserFactory.create(email_verified=False)

    assert verify(mint(unverified)).status_code == 200

    other.refresh_from_db()
    assert not other.email_verified


def test_payload_pointing_at_another_user_fails_the_signature(unverified, db):
    other = UserFactory.create(email_verified=False)
    token = mint(unverified)
    forged_payload = signing.b64_encode(f'["{other.pk.hex}","x"]'.encode()).decode()
    forged = ":".join([forged_payload, *token.split(":")[1:]])

    assert_invalid(verify(forged))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # signature
        lambda t: ("x" if t[0] != "x" else "y") + t[1:],  # payload
        lambda t: t.split(":")[0],  # unsigned payload
        lambda t: "garbage",
        lambda t: "a:b:c",
        lambda t: "x" * 5000,
    ],
)
def test_tampered_or_garbage_tokens_are_a_403_not_a_500(unverified, tamper):
    assert_invalid(verify(tamper(mint(unverified))))


def test_token_with_a_nul_character_is_a_400(unverified):
    response = verify(mint(unverified) + "\x00")

    assert response.status_code == 400
    assert "token" in response.json()["errors"]


def test_token_signed_for_another_purpose_is_refused(unverified):
    token = signing.dumps([unverified.pk.hex, "x"])  # default salt, not the verification one

    assert_invalid(verify(token))


def test_token_of_a_deactivated_user_is_refused(unverified):
    token = mint(unverified)
    User.objects.filter(pk=unverified.pk).update(is_active=False)

    assert_invalid(verify(token))


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": 5}, {"token": None}])
def test_missing_token_is_a_400(db, body):
    response = rpc(APIClient(), "verifyEmail", body)

    assert response.status_code == 400
    assert response.json()["code"] == "required"


# --- sendVerificationEmail -----------------------------------------------------------------


def send(email: str, *, commit, ip: str = "203.0.113.9"):
    with commit(execute=True):
        return APIClient().post(
            "/user/sendVerificationEmail", {"email": email}, format="json", REMOTE_ADDR=ip
        )


def test_send_verification_email_emails_a_working_link(unverified, commit):
    response = send("GRACE@example.com", commit=commit)

    assert response.status_code == 200 and response.json() == {}
    assert verify(verification_token("grace@example.com")).status_code == 200


def test_unknown_known_and_verified_addresses_answer_identically(unverified, db, commit):
    UserFactory.create(email="done@example.com", email_verified=True)

    known = send("grace@example.com", commit=commit)
    unknown = send("nobody@example.com", commit=commit)
    verified = send("done@example.com", commit=commit)

    assert known.status_code == unknown.status_code == verified.status_code == 200
    assert known.content == unknown.content == verified.content
    assert [message.to for message in mail.outbox] == [["grace@example.com"]]


def test_no_email_for_a_deactivated_account(db, commit):
    UserFactory.create(email="gone@example.com", is_active=False)

    assert send("gone@example.com", commit=commit).status_code == 200
    assert mail.outbox == []


def test_per_address_limit_drops_silently(unverified, commit):
    answers = [send("grace@example.com", commit=commit, ip=f"198.51.100.{n}") for n in range(5)]

    assert {answer.status_code for answer in answers} == {200}
    assert len(mail.outbox) == email_flows.VERIFICATIONS_PER_ADDRESS


def test_per_ip_limit_answers_429(db, commit):
    for number in range(email_flows.VERIFICATIONS_PER_IP):
        assert send(f"n{number}@example.com", commit=commit).status_code == 200

    response = send("last@example.com", commit=commit)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": ["a@example.com"]}])
def test_send_without_an_email_is_a_400(db, body):
    response = rpc(APIClient(), "sendVerificationEmail", body)

    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_the_token_never_reaches_a_log_line_or_an_event(unverified, commit, caplog):
    caplog.set_level(logging.DEBUG)
    send("grace@example.com", commit=commit)
    token = verification_token("grace@example.com")
    verify(token)

    assert token not in caplog.text
    assert not any(token in str(event.data) for event in AuditEvent.objects.all())


# --- Dashboard landing page ---------------------------------------------------------------


LANDING = "/accounts/verify-email/"


def page(token: str) -> str:
    """The emailed link: the token in the query string, never in the path."""
    return f"{LANDING}?{urlencode({'token': token})}"


def test_the_emailed_link_keeps_the_token_out_of_its_path(unverified, commit):
    send("grace@example.com", commit=commit)
    link = VERIFY_LINK.search(str(only_email_to("grace@example.com").body))
    assert link is not None
    token = verification_token("grace@example.com")
    assert token not in urlsplit(link.group(0)).path
    assert link.group(0).endswith(page(token))


def open_link(client: Client, token: str) -> Any:
    """Follows the emailed link: the token moves into the session, the page has no secret."""
    response = client.get(page(token))
    assert response.status_code == 302
    assert response["Location"] == LANDING
    assert response["Referrer-Policy"] == "no-referrer"
    return client.get(LANDING)


def test_landing_get_only_asks_for_confirmation(unverified):
    token = mint(unverified)
    response = open_link(csrf_client(), token)

    assert response.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in response.content
    assert f'action="{LANDING}"'.encode() in response.content
    assert token.encode() not in response.content
    unverified.refresh_from_db()
    assert not unverified.email_verified  # link scanners fetch links: GET changes nothing


def test_landing_post_with_csrf_verifies(unverified):
    client = csrf_client()
    open_link(client, mint(unverified))
    csrf = csrf_token_of(client, LANDING)

    response = client.post(LANDING, {"csrfmiddlewaretoken": csrf})

    assert response.status_code == 200
    assert b"grace@example.com" in response.content
    unverified.refresh_from_db()
    assert unverified.email_verified


def test_landing_post_without_csrf_is_refused(unverified):
    client = csrf_client()
    open_link(client, mint(unverified))

    response = client.post(LANDING)

    assert response.status_code == 403
    unverified.refresh_from_db()
    assert not unverified.email_verified


def test_the_token_works_in_the_session_that_opened_the_link_only(unverified):
    opened = csrf_client()
    open_link(opened, mint(unverified))
    other = csrf_client()

    assert b"does not work" in other.get(LANDING).content
    csrf = csrf_token_of(other, "/accounts/password-reset/")  # any form: the cookie it sets

    response = other.post(LANDING, {"csrfmiddlewaretoken": csrf})

    assert b"does not work" in response.content
    unverified.refresh_from_db()
    assert not unverified.email_verified


@pytest.mark.parametrize("token", ["garbage", "a:b:c", "\x00", "x" * 5000])
def test_landing_with_a_bad_token_says_so(db, token):
    client = csrf_client()
    # A bad token is not kept, so the landing says so at once, without a confirm form.
    assert b"does not work" in open_link(client, token).content
    csrf = csrf_token_of(client, "/accounts/password-reset/")  # any form: the cookie it sets

    response = client.post(LANDING, {"csrfmiddlewaretoken": csrf})

    assert response.status_code == 200  # not a 4xx: a stale link is not a server error
    assert b"does not work" in response.content


@pytest.mark.parametrize("token", ["x", "garbage", "a:b:c", "x" * 5000])
def test_a_link_with_an_invalid_token_creates_no_session(db, token):
    for _ in range(3):
        response = Client().get(page(token))
        assert response.status_code == 302
        assert response["Location"] == LANDING
        assert settings.SESSION_COOKIE_NAME not in response.cookies

    assert DashboardSession.objects.count() == 0


def test_a_link_with_a_used_token_creates_no_session(unverified):
    token = mint(unverified)
    email_flows.email_verify(token=token)

    Client().get(page(token))

    assert DashboardSession.objects.count() == 0


def test_only_a_valid_token_creates_a_session(unverified):
    Client().get(page(mint(unverified)))

    assert DashboardSession.objects.count() == 1


def test_an_invalid_link_drops_the_pending_token_of_an_earlier_one(unverified):
    client = csrf_client()
    open_link(client, mint(unverified))

    assert b"does not work" in open_link(client, "garbage").content


def test_landing_without_a_token_says_so(db):
    response = Client().get(LANDING)

    assert response.status_code == 200
    assert b"does not work" in response.content


def test_landing_rejects_other_methods(unverified):
    assert Client().delete(page(mint(unverified))).status_code == 405
