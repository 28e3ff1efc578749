"""The local second factor after a federated sign-in, what the session then proves, and the
password sign-in's lockout and IP throttle on the callback."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import Membership, User
from audit.models import AuditEvent
from authn import lockout
from authn.models import ExternalIdentity, IdentityProvider
from authn.sessions.proof import (
    AMR_KEY,
    IDP_KEY,
    principal_for_session,
    session_amr,
    session_mark_signed_in,
    session_sign_in_facts,
)
from micro_platform.sign_in import signed_in_recently
from tests.authn.dashboard_helpers import OTP_URL, enrol_totp, totp_code
from tests.authn.federation.conftest import sign_in
from tests.authn.federation.fake_provider import FakeProvider
from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada(upstream: FakeProvider, idp: IdentityProvider) -> User:
    """A linked account (made by a first sign-in, then signed out) with a TOTP device."""
    client = Client()
    sign_in(client, upstream)
    user = User.objects.get()
    enrol_totp(user)
    return user


def _principal(client: Client, user: User) -> Any:
    return principal_for_session(user, client.session)


def test_user_with_a_device_passes_the_otp_step_after_the_provider(
    client: Client, upstream: FakeProvider, ada: User
) -> None:
    upstream.claims["amr"] = ["pwd"]
    response = sign_in(client, upstream)
    assert response["Location"] == OTP_URL
    assert "_auth_user_id" not in client.session
    device = TOTPDevice.objects.get(user=ada)
    response = client.post(OTP_URL, {"otp_token": totp_code(device, offset_seconds=30)})
    assert response.status_code == 302
    assert client.session[AMR_KEY] == ["fed", "pwd", "otp"]
    assert client.session[IDP_KEY] == "acme"
    principal = _principal(client, ada)
    assert principal.amr == ("fed", "otp")
    assert principal.idp == "acme"
    assert principal.is_personal_sign_in
    assert signed_in_recently(principal, with_otp=True)
    event = AuditEvent.objects.filter(type="login.succeeded").latest("created_at")
    assert event.data == {"method": "federated", "amr": ["fed", "pwd", "otp"], "idp": "acme"}


def test_enforcing_provider_with_mfa_amr_skips_the_otp_step(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, ada: User
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(enforces_mfa=True)
    upstream.claims["amr"] = ["pwd", "mfa"]
    response = sign_in(client, upstream)
    assert response["Location"] == "/dashboard/"
    assert client.session[AMR_KEY] == ["fed", "pwd", "mfa"]
    principal = _principal(client, ada)
    assert principal.amr == ("fed", "mfa")
    assert signed_in_recently(principal, with_otp=True)


def test_enforcing_providers_mfa_opens_the_admin_site_to_a_staff_user_with_a_device(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, ada: User
) -> None:
    User.objects.filter(pk=ada.pk).update(is_staff=True)
    IdentityProvider.objects.filter(pk=idp.pk).update(enforces_mfa=True)
    upstream.claims["amr"] = ["pwd", "mfa"]
    assert sign_in(client, upstream)["Location"] == "/dashboard/"

    assert client.get("/admin/", secure=True).status_code == 200


def test_a_staff_user_with_a_device_signed_in_without_mfa_is_kept_out_of_the_admin_site(
    client: Client, ada: User
) -> None:
    User.objects.filter(pk=ada.pk).update(is_staff=True)
    client.force_login(ada)
    session = client.session
    # A federated sign-in whose provider did not vouch for MFA: `fed` alone.
    session_mark_signed_in(session, amr=("fed", "pwd", "mfa"), idp="acme")
    session.save()

    response = client.get("/admin/", secure=True)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_a_link_by_verified_email_is_made_only_after_the_accounts_own_code_step(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    existing = User.objects.create_user(
        username="ada", password="a-long-password-1", email="ada@example.com"
    )
    User.objects.filter(pk=existing.pk).update(email_verified=True)
    enrol_totp(existing)
    IdentityProvider.objects.filter(pk=idp.pk).update(link_by_verified_email=True)

    assert sign_in(client, upstream)["Location"] == OTP_URL
    # Stopped at the code step: the upstream account is not linked.
    assert not ExternalIdentity.objects.exists()

    device = TOTPDevice.objects.get(user=existing)
    response = client.post(OTP_URL, {"otp_token": totp_code(device, offset_seconds=30)})
    assert response.status_code == 302
    assert ExternalIdentity.objects.get().user == existing
    link = AuditEvent.objects.get(type="external_identity.linked")
    assert link.data == {"idp": "acme", "subject": "upstream-1", "via": "email"}


def test_enforcing_provider_with_mfa_acr_skips_the_otp_step(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, ada: User
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(enforces_mfa=True)
    upstream.claims["acr"] = "https://refeds.org/profile/mfa"
    assert sign_in(client, upstream)["Location"] == "/dashboard/"


@pytest.mark.parametrize(
    "amr", [["pwd", "hwk"], ["otp", "fpt"], ["kba", "sms"]], ids=["pwd+hwk", "otp+fpt", "kba+sms"]
)
def test_enforcing_provider_with_two_kinds_of_factor_skips_the_otp_step(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, ada: User, amr: list[str]
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(enforces_mfa=True)
    upstream.claims["amr"] = amr
    assert sign_in(client, upstream)["Location"] == "/dashboard/"


@pytest.mark.parametrize(
    ("enforcing", "amr", "acr"),
    [
        (True, ["pwd"], None),
        (False, ["pwd", "mfa"], None),
        (False, ["otp"], None),
        # One factor, however it is named: an emailed code, a key alone, two possession factors.
        (True, ["otp"], None),
        (True, ["hwk"], None),
        (True, ["otp", "sms"], None),
        (True, ["pwd", "pin"], None),
        # Levels whose meaning each deployment configures, and a made-up name.
        (True, ["pwd"], "2"),
        (True, ["pwd"], "mfa"),
        (True, ["pwd"], ["https://refeds.org/profile/mfa"]),
    ],
    ids=[
        "enforcing-without-mfa",
        "not-enforcing-with-mfa",
        "not-enforcing-with-otp",
        "enforcing-otp-alone",
        "enforcing-hwk-alone",
        "enforcing-two-possession-factors",
        "enforcing-two-knowledge-factors",
        "enforcing-acr-level-2",
        "enforcing-acr-mfa-word",
        "enforcing-acr-not-a-string",
    ],
)
def test_otp_step_is_not_skipped_without_an_enforcing_providers_mfa(
    client: Client,
    upstream: FakeProvider,
    idp: IdentityProvider,
    ada: User,
    enforcing: bool,
    amr: list[str],
    acr: Any,
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(enforces_mfa=enforcing)
    upstream.claims["amr"] = amr
    if acr is not None:
        upstream.claims["acr"] = acr
    assert sign_in(client, upstream)["Location"] == OTP_URL
    assert "_auth_user_id" not in client.session


def test_upstream_otp_of_a_user_without_device_does_not_count_here(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    upstream.claims["amr"] = ["otp", "mfa"]
    sign_in(client, upstream)
    principal = _principal(client, User.objects.get())
    assert principal.amr == ("fed",)
    assert principal.is_personal_sign_in
    assert signed_in_recently(principal)
    assert not signed_in_recently(principal, with_otp=True)


def test_ip_throttle_applies_to_the_callback(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, settings: Any
) -> None:
    settings.MICRO_LOGIN_FAILURES_PER_IP = 2
    for _ in range(2):
        assert client.get("/accounts/federation/acme/callback/?state=x&code=y").status_code == 400
    response = sign_in(client, upstream)
    assert response.status_code == 429
    assert "Retry-After" in response
    assert "_auth_user_id" not in client.session
    problem = client.get(
        "/accounts/federation/acme/callback/?state=x&code=y",
        headers={"Accept": "application/json"},
    )
    assert problem.status_code == 429
    assert problem.json()["code"] == "too_many_attempts"


def test_cancelling_at_the_provider_does_not_count_against_the_address(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, settings: Any
) -> None:
    settings.MICRO_LOGIN_FAILURES_PER_IP = 2
    for _ in range(3):
        cancelled = client.get("/accounts/federation/acme/callback/?state=x&error=access_denied")
        assert cancelled.status_code == 400
    assert sign_in(client, upstream).status_code == 302
    assert "_auth_user_id" in client.session


def test_locked_account_is_refused_at_the_callback(
    client: Client, upstream: FakeProvider, ada: User
) -> None:
    lockout.lock(login=lockout.lockout_subject(login=ada.username, user_id=ada.pk))
    response = sign_in(client, upstream)
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(type="federation.refused", data__reason="locked").exists()


def test_a_later_sign_in_in_the_same_session_does_not_inherit_the_providers_mfa(
    db: None,
) -> None:
    session = SessionStore()
    session_mark_signed_in(session, amr=("fed", "mfa"), idp="acme", mfa="mfa")
    assert session_amr(session) == ("fed", "mfa")
    session_mark_signed_in(session, amr=("fed", "pwd"), idp="acme")
    assert session_amr(session) == ("fed",)
    session_mark_signed_in(session, amr=("pwd",))
    assert session_sign_in_facts(session) == (("pwd",), None)


def test_mapped_groups_are_added_only_once_the_otp_step_passes(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, ada: User
) -> None:
    staff = GroupFactory.create(name="staff")
    IdentityProvider.objects.filter(pk=idp.pk).update(group_mapping={"acme-staff": "staff"})
    upstream.claims["groups"] = ["acme-staff"]
    assert sign_in(client, upstream)["Location"] == OTP_URL
    assert not Membership.objects.filter(user=ada).exists()
    device = TOTPDevice.objects.get(user=ada)
    client.post(OTP_URL, {"otp_token": totp_code(device, offset_seconds=30)})
    assert list(Membership.objects.filter(user=ada).values_list("group", flat=True)) == [staff.pk]
