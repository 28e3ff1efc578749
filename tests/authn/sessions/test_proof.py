"""What a session's sign-in proves (`session_amr`), the `amr` each session row records for the
security page, and how the page names those values."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.template import Context, Template
from django.test import Client
from django.utils import timezone

from accounts.models import User
from authn.models import DashboardSession
from authn.sessions.proof import (
    AMR_KEY,
    IDP_KEY,
    principal_for_session,
    session_amr,
    session_mark_signed_in,
)
from authn.sessions.store import SessionStore
from authn.templatetags.dashboard import amr_label
from tests.authn.dashboard_helpers import enrol_totp, sign_in

pytestmark = pytest.mark.django_db


def _session(amr: tuple[str, ...], idp: str | None = None, mfa: str | None = None) -> SessionStore:
    session = SessionStore()
    session_mark_signed_in(session, amr=amr, idp=idp, mfa=mfa)
    return session


@pytest.mark.parametrize(
    ("amr", "expected"),
    [
        (("hwk", "user"), ("hwk", "user")),
        (("swk", "user"), ("swk", "user")),
        (("pwd", "hwk", "user", "mfa"), ("pwd", "hwk", "user", "mfa")),
        (("pwd", "hwk", "mfa"), ("pwd", "hwk", "mfa")),
        (("pwd", "otp"), ("pwd", "otp")),
        # Nothing else a session might hold is claimed.
        (("pwd", "rsa", "sms"), ("pwd",)),
    ],
)
def test_a_local_sign_in_keeps_its_passkey_values(amr, expected):
    assert session_amr(_session(amr)) == expected


@pytest.mark.parametrize(
    ("mfa", "expected"),
    [
        ("hwk", ("fed", "hwk", "mfa")),
        ("swk", ("fed", "swk", "mfa")),
        ("otp", ("fed", "otp")),
        ("mfa", ("fed", "mfa")),
        (None, ("fed",)),
    ],
)
def test_a_federated_sign_in_claims_only_its_local_or_vouched_second_factor(mfa, expected):
    # The provider's own values (here a `hwk` and an `mfa`) never count by themselves.
    session = _session(("fed", "pwd", "hwk", "mfa"), idp="acme", mfa=mfa)
    assert session_amr(session) == expected


def test_a_federated_amr_without_its_provider_proves_nothing():
    session = SessionStore()
    session[AMR_KEY] = ["fed", "pwd", "hwk"]
    assert IDP_KEY not in session
    assert session_amr(session) == ()


def test_a_passkey_session_principal_carries_the_passkey_amr(user: User):
    principal = principal_for_session(user, _session(("hwk", "user")))
    assert principal.amr == ("hwk", "user")
    assert principal.is_personal_sign_in


# --- the session row's `amr` ------------------------------------------------------------------


def test_the_session_row_records_how_the_user_signed_in(user: User):
    client = Client()
    sign_in(client, user)
    assert DashboardSession.objects.get(user=user).amr == ["pwd"]


def test_the_session_row_records_the_code_step(user: User):
    enrol_totp(user)
    client = Client()
    sign_in(client, user)
    assert DashboardSession.objects.get(user=user).amr == ["pwd", "otp"]


def test_the_session_row_records_a_passkey_sign_in_and_an_anonymous_one_nothing(user: User):
    session = SessionStore()
    session["anything"] = 1
    session.save()
    assert DashboardSession.objects.get(user=None).amr == []
    session.cycle_key()
    session["_auth_user_id"] = str(user.pk)
    session_mark_signed_in(session, amr=("pwd", "swk", "user", "mfa"))
    session.save()
    assert DashboardSession.objects.get(user=user).amr == ["pwd", "swk", "user", "mfa"]


def test_the_session_row_of_a_federated_sign_in_holds_only_checked_values(user: User):
    session = _session(("fed", "pwd", "otp"), idp="acme", mfa="hwk")
    session["_auth_user_id"] = str(user.pk)
    session.save()
    assert DashboardSession.objects.get(user=user).amr == ["fed", "hwk", "mfa"]


# --- amr_label --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amr", "label"),
    [
        ("pwd", "password"),
        ("otp", "code"),
        ("hwk", "security key"),
        ("swk", "synced passkey"),
        ("user", "verified"),
        ("fed", "provider"),
        ("mfa", "MFA"),
        (["pwd", "hwk", "user", "mfa"], "password + security key + verified + MFA"),
        (("hwk", "user"), "security key + verified"),
        (["fed", "otp"], "provider + code"),
        (["pwd", "rsa", "<b>"], "password"),
        ([], "—"),
        (None, "—"),
        ("rsa", "—"),
    ],
)
def test_amr_label_names_each_method(amr, label):
    assert amr_label(amr) == label


def test_amr_label_in_a_template_is_escaped_text():
    template = Template("{% load dashboard %}{{ amr|amr_label }}")
    assert template.render(Context({"amr": ["pwd", "<script>"]})) == "password"


def test_a_row_inserted_without_amr_by_an_older_release_gets_an_empty_list():
    now = timezone.now()
    row_id = uuid.uuid4()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO authn_dashboardsession (id, key_hash, session_data, created_at,"
            " last_seen_at, expire_date, user_agent) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [row_id.hex, "0" * 64, "", now, now, now + timedelta(hours=1), ""],
        )
    assert DashboardSession.objects.get(pk=row_id).amr == []
