"""Password reset: no enumeration, single-use links, every sign-in ended,
MFA untouched."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import jwt
import pytest
from django.apps import apps
from django.core import mail
from django.test import Client
from rest_framework.test import APIClient

from accounts import email_flows
from accounts.models import User
from audit.models import AuditEvent
from authn.models import Session
from tests.accounts.email_helpers import (
    RESET_LINK,
    csrf_client,
    only_email_to,
    post_form,
    reset_code,
    reset_link,
    rpc,
)
from tests.accounts.password_reset_helpers import (
    NEW_PASSWORD,
    PAGE,
    fresh_code,
    link,
    request_reset,
    reset,
    set_password_via_page,
)
from tests.authn.helpers import me_status, password_login, refresh
from tests.factories import DEFAULT_PASSWORD, UserFactory


@pytest.fixture
def commit(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


@pytest.fixture
def member(db) -> User:
    return UserFactory.create(username="lin", email="lin@example.com", email_verified=True)


def assert_invalid(response) -> None:
    # The emailed code is the credential: an invalid one is refused (403), not malformed input.
    assert response.status_code == 403, response.content
    assert response.json()["code"] == "invalid_token"


# --- sendPasswordResetEmail: no enumeration ---------------------------------------------------


def test_known_address_gets_a_link_and_a_code(member, commit):
    response = request_reset("LIN@example.com", commit=commit)

    assert response.status_code == 200 and response.json() == {}
    uidb64, token = reset_link("lin@example.com")
    assert reset_code("lin@example.com") == f"{uidb64}.{token}"
    assert "http://127.0.0.1:8000/accounts/password-reset/" in mail.outbox[0].body


def test_unknown_and_known_addresses_answer_identically(member, commit):
    known = request_reset("lin@example.com", commit=commit)
    unknown = request_reset("nobody@example.com", commit=commit)

    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    assert dict(known.headers) == dict(unknown.headers)
    assert [message.to for message in mail.outbox] == [["lin@example.com"]]


def test_both_outcomes_write_one_reset_requested_event(member, commit):
    request_reset("lin@example.com", commit=commit)
    request_reset("nobody@example.com", commit=commit)

    events = AuditEvent.objects.filter(type="password.reset_requested").order_by("created_at")
    assert [(event.subject_type, event.ip_address) for event in events] == [
        ("user", "203.0.113.20"),
        ("unknown_email", "203.0.113.20"),
    ]
    assert "nobody" not in events[1].subject_id  # only a digest of the typed address


@pytest.mark.parametrize(
    "make", [lambda: UserFactory.create(email="x@example.com", is_active=False),
             lambda: UserFactory.create(email="x@example.com", kind="service")],
)  # fmt: skip
def test_no_email_for_deactivated_or_service_accounts(db, commit, make):
    make()

    assert request_reset("x@example.com", commit=commit).status_code == 200
    assert mail.outbox == []


def test_per_address_limit_drops_silently_whether_or_not_it_exists(member, commit):
    for address in ("lin@example.com", "nobody@example.com"):
        answers = [request_reset(address, commit=commit, ip=f"198.51.100.{n}") for n in range(5)]
        assert {answer.status_code for answer in answers} == {200}

    assert len(mail.outbox) == email_flows.RESETS_PER_ADDRESS


def test_per_ip_limit_answers_429(db, commit):
    for number in range(email_flows.RESETS_PER_IP):
        assert request_reset(f"n{number}@example.com", commit=commit).status_code == 200

    response = request_reset("last@example.com", commit=commit)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert request_reset("last@example.com", commit=commit, ip="198.51.100.99").status_code == 200


@pytest.mark.parametrize("body", [{}, {"email": ""}, {"email": 42}, {"username": "lin"}])
def test_request_without_an_email_is_a_400(db, body):
    response = rpc(APIClient(), "sendPasswordResetEmail", body)

    assert response.status_code == 400
    assert "email" in response.json()["errors"]


def test_request_with_a_nul_in_the_address_is_a_400(db):
    response = rpc(APIClient(), "sendPasswordResetEmail", {"email": "a\x00@example.com"})

    assert response.status_code == 400


# --- resetPassword ------------------------------------------------------------------------


def test_code_from_the_email_sets_the_new_password(member, commit):
    request_reset("lin@example.com", commit=commit)

    response = reset({"token": reset_code("lin@example.com"), "password": NEW_PASSWORD})

    assert response.status_code == 200 and response.json() == {}
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert not member.check_password(DEFAULT_PASSWORD)


def test_micro_field_names_are_accepted(member):
    body = {
        "email": "lin@example.com",
        "code": fresh_code(member),
        "newPassword": NEW_PASSWORD,
        "confirmPassword": NEW_PASSWORD,
    }

    assert reset(body).status_code == 200


def test_reset_is_audited_as_password_changed_by_reset(member):
    reset({"token": fresh_code(member), "password": NEW_PASSWORD})

    event = AuditEvent.objects.get(type="password.changed")
    assert event.data == {"method": "reset"}
    assert event.subject_id == str(member.pk) and event.actor_id == member.pk


def test_code_works_once(member):
    code = fresh_code(member)

    assert reset({"token": code, "password": NEW_PASSWORD}).status_code == 200
    assert_invalid(reset({"token": code, "password": "yet another passphrase 99"}))
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)


def test_code_expires_after_an_hour(member, monkeypatch):
    code = fresh_code(member)
    later = datetime.now() + timedelta(hours=1, seconds=5)
    monkeypatch.setattr(email_flows.password_reset_tokens, "_now", lambda: later)

    assert_invalid(reset({"token": code, "password": NEW_PASSWORD}))


def test_code_of_one_user_does_not_reset_another(member, other_user):
    _, token = fresh_code(member).split(".")
    swapped = f"{email_flows.password_reset_uid(other_user)}.{token}"

    assert_invalid(reset({"token": swapped, "password": NEW_PASSWORD}))
    other_user.refresh_from_db()
    assert other_user.check_password(DEFAULT_PASSWORD)


def test_code_is_void_once_the_email_changes(member):
    code = fresh_code(member)
    User.objects.filter(pk=member.pk).update(email="lin.new@example.com")

    assert_invalid(reset({"token": code, "password": NEW_PASSWORD}))


def test_code_of_a_deactivated_user_is_refused(member):
    code = fresh_code(member)
    User.objects.filter(pk=member.pk).update(is_active=False)

    assert_invalid(reset({"token": code, "password": NEW_PASSWORD}))


@pytest.mark.parametrize(
    "code",
    ["", "nodot", ".", "abc.", ".1-abc", "!!!.1-abc", "MTIz.1-abc", "x" * 5000, "a.b.c"],
)
def test_malformed_codes_are_refused_not_a_500(member, code):
    response = reset({"token": code, "password": NEW_PASSWORD})

    # No code at all is a missing field (400); any other one names no reset (403).
    assert response.status_code == (400 if code == "" else 403)
    assert "token" in response.json()["errors"]


def test_tampered_code_is_refused(member):
    code = fresh_code(member)
    tampered = code[:-1] + ("0" if code[-1] != "0" else "1")

    assert_invalid(reset({"token": tampered, "password": NEW_PASSWORD}))


@pytest.mark.parametrize("weak", ["short", "password123", "x" * 257])
def test_weak_password_is_a_403_and_does_not_use_up_the_code(member, weak):
    code = fresh_code(member)

    response = reset({"token": code, "password": weak})

    assert response.status_code == 403
    assert response.json()["code"] == "password_policy"
    assert "password" in response.json()["errors"]
    assert reset({"token": code, "password": NEW_PASSWORD}).status_code == 200


def test_confirmation_mismatch_is_a_400(member):
    body = {"token": fresh_code(member), "password": NEW_PASSWORD, "confirmPassword": "other"}

    response = reset(body)

    assert response.status_code == 400
    assert "confirmPassword" in response.json()["errors"]


@pytest.mark.parametrize("body", [{}, {"token": "a.b"}, {"password": NEW_PASSWORD}])
def test_missing_fields_are_a_400(db, body):
    assert reset(body).status_code == 400


# --- Every sign-in ends ------------------------------------------------------------------


def test_reset_ends_sessions_refresh_and_access_tokens(member, session_client):
    pair = password_login(member, DEFAULT_PASSWORD)
    dashboard = session_client(member)
    rpc_session = rpc(
        APIClient(), "login", {"username": "lin", "password": DEFAULT_PASSWORD}
    ).json()["session"]
    assert dashboard.get("/api/v1/me").status_code == 200

    assert reset({"token": fresh_code(member), "password": NEW_PASSWORD}).status_code == 200

    assert refresh(pair["refresh_token"]).status_code == 401
    assert me_status(pair["access_token"]) == 401
    assert dashboard.get("/api/v1/me").status_code in (401, 403)
    assert rpc(APIClient(), "readSession", {"sessionId": rpc_session["id"]}).status_code == 404
    assert not Session.objects.filter(user=member, revoked_at__isnull=True).exists()


def test_new_password_signs_in_and_old_one_does_not(member):
    reset({"token": fresh_code(member), "password": NEW_PASSWORD})

    assert password_login(member, NEW_PASSWORD)["access_token"]
    old = APIClient().post(
        "/api/v1/auth/token", {"username": "lin", "password": DEFAULT_PASSWORD}, format="json"
    )
    assert old.status_code == 401


def test_password_reset_keeps_mfa(member):
    """A reset neither removes the TOTP device nor lets a sign-in skip the code."""
    if not apps.is_installed("django_otp"):
        pytest.skip("needs django-otp")
    from django_otp.oath import TOTP
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=member, name="phone", confirmed=True)

    assert reset({"token": fresh_code(member), "password": NEW_PASSWORD}).status_code == 200

    assert TOTPDevice.objects.filter(pk=device.pk, user=member, confirmed=True).exists()
    without_code = APIClient().post(
        "/api/v1/auth/token", {"username": "lin", "password": NEW_PASSWORD}, format="json"
    )
    assert without_code.status_code == 401
    assert without_code.json()["code"] == "mfa_required"
    otp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    code = f"{otp.token():0{device.digits}d}"
    with_code = password_login(member, NEW_PASSWORD, otp=code)
    claims = jwt.decode(with_code["access_token"], options={"verify_signature": False})
    assert "otp" in claims["amr"]


# --- No secret in logs or events -------------------------------------------------------------


def test_the_code_never_reaches_a_log_line_or_an_event(member, commit, caplog):
    caplog.set_level(logging.DEBUG)
    request_reset("lin@example.com", commit=commit)
    code = reset_code("lin@example.com")
    reset({"token": code, "password": NEW_PASSWORD})

    _, token = code.split(".")
    assert token not in caplog.text and NEW_PASSWORD not in caplog.text
    for event in AuditEvent.objects.all():
        assert token not in str(event.data) and token not in event.subject_id


# --- Dashboard pages ---------------------------------------------------------------------------


def test_request_page_answers_the_same_for_known_and_unknown_addresses(member, commit):
    client = csrf_client()
    with commit(execute=True):
        known = post_form(client, PAGE, {"email": "lin@example.com"})
    with commit(execute=True):
        unknown = post_form(client, PAGE, {"email": "nobody@example.com"})

    assert known.status_code == unknown.status_code == 200
    assert known.content.replace(b"lin@", b"") == unknown.content.replace(b"nobody@", b"")
    assert b"If an account uses this address" in known.content
    assert [message.to for message in mail.outbox] == [["lin@example.com"]]


def test_request_page_post_without_csrf_is_refused(member):
    assert csrf_client().post(PAGE, {"email": "lin@example.com"}).status_code == 403
    assert mail.outbox == []


def test_request_page_with_a_bad_address_shows_the_form_again(db):
    response = post_form(csrf_client(), PAGE, {"email": "not an address"})

    assert response.status_code == 200
    assert b'name="email"' in response.content


def test_confirm_page_sets_the_password_and_ends_sign_ins(member, commit, session_client):
    other_dashboard = session_client(member)
    request_reset("lin@example.com", commit=commit)
    uidb64, token = reset_link("lin@example.com")

    response = set_password_via_page(csrf_client(), uidb64, token, NEW_PASSWORD)

    assert response.status_code == 302
    assert response["Location"] == f"{PAGE}done/"
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert other_dashboard.get("/api/v1/me").status_code in (401, 403)
    assert AuditEvent.objects.filter(type="password.changed", data={"method": "reset"}).exists()
    assert Client().get(f"{PAGE}done/").status_code == 200


def test_confirm_page_link_works_once(member):
    uidb64, token = fresh_code(member).split(".")
    set_password_via_page(csrf_client(), uidb64, token, NEW_PASSWORD)

    again = csrf_client().get(link(uidb64, token))

    assert again.status_code == 200
    assert b"does not work" in again.content


def test_confirm_page_rejects_a_weak_password_and_keeps_the_old_one(member):
    uidb64, token = fresh_code(member).split(".")

    response = set_password_via_page(csrf_client(), uidb64, token, "password")

    assert response.status_code == 200
    assert b"too common" in response.content
    member.refresh_from_db()
    assert member.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    ("uidb64", "token"), [("bad", "1-abc"), ("MTIz", "1-abc"), ("!!", "set-password")]
)
def test_confirm_page_with_a_bad_link_says_so(db, uidb64, token):
    response = csrf_client().get(link(uidb64, token))

    assert response.status_code == 200
    assert b"does not work" in response.content
    assert b"<form" not in response.content


def test_the_emailed_link_keeps_the_code_out_of_its_path(member, commit):
    request_reset("lin@example.com", commit=commit)
    uidb64, token = reset_link("lin@example.com")
    found = RESET_LINK.search(str(only_email_to("lin@example.com").body))
    assert found is not None
    url = found.group(0)

    assert token not in urlsplit(url).path and uidb64 not in urlsplit(url).path
    assert url.endswith(link(uidb64, token))


def test_a_token_in_the_path_is_refused_like_a_bad_link(member):
    """Django's own link shape (`<uidb64>/<token>/`) would put the token in access logs."""
    uidb64, token = fresh_code(member).split(".")

    response = csrf_client().get(f"{PAGE}{uidb64}/{token}/")

    assert response.status_code == 200
    assert b"does not work" in response.content
    assert set_password_via_page(csrf_client(), uidb64, token, NEW_PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "query", ["", "?code=", "?code=nodot", "?code=a.b.c", "?code=" + "x" * 5000]
)
def test_a_malformed_link_says_so(db, query):
    response = csrf_client().get(f"{PAGE}confirm/{query}")

    assert response.status_code == 200
    assert b"does not work" in response.content


def test_confirm_page_post_without_csrf_is_refused(member):
    uidb64, token = fresh_code(member).split(".")
    client = csrf_client()
    form_url = client.get(link(uidb64, token))["Location"]

    response = client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert response.status_code == 403
    member.refresh_from_db()
    assert member.check_password(DEFAULT_PASSWORD)


def test_request_page_is_throttled_per_client_ip(db, commit):
    client = csrf_client()
    for number in range(email_flows.RESETS_PER_IP):
        with commit(execute=True):
            assert post_form(client, PAGE, {"email": f"n{number}@example.com"}).status_code == 200

    response = post_form(client, PAGE, {"email": "last@example.com"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many requests" in response.content
