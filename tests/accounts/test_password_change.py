"""Changing one's password: only a person's own sign-in, and the current password is checked
under the sign-in lockout and per-IP throttle (REST, RPC and the dashboard alike)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from tests.authn.api_keys.helpers import (
    MACHINE_CREDENTIALS,
    assert_refused_as_machine,
    key_client,
    machine_client,
    mint,
)
from tests.authn.dashboard_helpers import sign_in
from tests.authn.oauth_helpers import code_flow_tokens, make_client
from tests.conftest import token_for
from tests.factories import DEFAULT_PASSWORD

REST_URL = "/api/v1/me/password"
NEW_PASSWORD = "violet sky lantern"
WRONG = "a wrong guess at it"
IP = "198.51.100.7"


def rest_change(client: APIClient, old: str) -> Any:
    return client.post(REST_URL, {"old_password": old, "new_password": NEW_PASSWORD}, format="json")


def rpc_change(client: APIClient, old: str) -> Any:
    body = json.dumps({"oldPassword": old, "newPassword": NEW_PASSWORD})
    return client.post("/user/updatePassword", body, content_type="application/json")


CHANGES = {"rest": rest_change, "rpc": rpc_change}


def bearer(user: User, ip: str = IP) -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    return client


def failed_checks(user: User) -> list[dict[str, Any]]:
    events = AuditEvent.objects.filter(type="login.failed", subject_id=str(user.pk))
    return [event.data for event in events]


def assert_unchanged(user: User) -> None:
    user.refresh_from_db()
    assert user.check_password(DEFAULT_PASSWORD)


@pytest.mark.parametrize("via", CHANGES)
def test_wrong_current_passwords_are_counted_audited_and_lock_the_account(
    user: User, via: str
) -> None:
    change = CHANGES[via]
    client = bearer(user)
    threshold = settings.MICRO_LOCKOUT_THRESHOLD

    statuses = [change(client, WRONG).status_code for _ in range(threshold)]
    locked = change(client, DEFAULT_PASSWORD)

    assert statuses == [403] * threshold
    assert locked.status_code == 429
    assert locked.json()["code"] == "too_many_attempts"
    assert 0 < int(locked["Retry-After"]) <= settings.MICRO_LOCKOUT_SECONDS
    assert failed_checks(user) == [{"method": "password_change"}] * threshold
    assert WRONG not in json.dumps(list(AuditEvent.objects.values_list("data", flat=True)))
    assert AuditEvent.objects.filter(type="login.locked", subject_id=str(user.pk)).count() == 1
    assert_unchanged(user)


@pytest.mark.parametrize("via", CHANGES)
def test_a_locked_account_is_refused_before_the_password_is_checked(user: User, via: str) -> None:
    for _ in range(settings.MICRO_LOCKOUT_THRESHOLD):  # guesses at the sign-in
        APIClient().post("/api/v1/auth/token", {"username": user.username, "password": WRONG})
    failures = len(failed_checks(user))

    response = CHANGES[via](bearer(user), DEFAULT_PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert len(failed_checks(user)) == failures  # refused without a check
    assert_unchanged(user)


@pytest.mark.parametrize("via", CHANGES)
def test_a_throttled_address_is_refused(user: User, via: str, settings: Any) -> None:
    settings.MICRO_LOGIN_FAILURES_PER_IP = 3
    for name in ("someone", "someone-else", "a-third"):
        APIClient(REMOTE_ADDR=IP).post("/api/v1/auth/token", {"username": name, "password": WRONG})

    response = CHANGES[via](bearer(user, IP), DEFAULT_PASSWORD)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert_unchanged(user)
    assert CHANGES[via](bearer(user, "203.0.113.9"), DEFAULT_PASSWORD).status_code in (200, 204)


@pytest.mark.parametrize("via", CHANGES)
def test_failed_current_password_checks_count_toward_the_address_throttle(
    user: User, other_user: User, via: str, settings: Any
) -> None:
    settings.MICRO_LOGIN_FAILURES_PER_IP = 2
    CHANGES[via](bearer(user), WRONG)
    CHANGES[via](bearer(other_user), WRONG)

    signed_in = APIClient(REMOTE_ADDR=IP).post(
        "/api/v1/auth/token", {"username": user.username, "password": DEFAULT_PASSWORD}
    )

    assert signed_in.status_code == 429


@pytest.mark.parametrize("via", CHANGES)
@pytest.mark.parametrize("credential", MACHINE_CREDENTIALS)
def test_a_machine_credential_cannot_change_the_password(
    user: User, via: str, credential: str
) -> None:
    parent = mint(user, ("profile", "users:read"))
    client = machine_client(user, parent, credential)

    response = CHANGES[via](client, DEFAULT_PASSWORD)

    assert_refused_as_machine(response, credential)
    assert not AuditEvent.objects.filter(type="login.failed").exists()  # nothing was checked
    assert_unchanged(user)


@pytest.mark.parametrize("via", CHANGES)
def test_a_third_party_apps_token_cannot_change_the_password(user: User, via: str) -> None:
    browser = Client()
    browser.force_login(user)
    tokens = code_flow_tokens(browser, make_client(name="Someone's app"), scope="openid profile")

    response = CHANGES[via](key_client(tokens["access_token"]), DEFAULT_PASSWORD)

    assert response.status_code == 403
    assert response.json()["code"] == "sign_in_required"
    assert_unchanged(user)


@pytest.mark.parametrize("via", CHANGES)
def test_a_persons_sign_in_changes_the_password_and_a_success_ends_the_failure_run(
    user: User, via: str
) -> None:
    client = bearer(user)
    for _ in range(settings.MICRO_LOCKOUT_THRESHOLD - 1):
        CHANGES[via](client, WRONG)

    response = CHANGES[via](client, DEFAULT_PASSWORD)

    assert response.status_code in (200, 204)
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    signed_in = APIClient().post(
        "/api/v1/auth/token", {"username": user.username, "password": NEW_PASSWORD}
    )
    assert signed_in.status_code == 200


def test_the_dashboard_form_counts_failures_and_locks(user: User) -> None:
    dashboard = Client(REMOTE_ADDR=IP)
    sign_in(dashboard, user)
    form = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}

    statuses = [
        dashboard.post("/dashboard/security/password", {**form, "old_password": WRONG}).status_code
        for _ in range(settings.MICRO_LOCKOUT_THRESHOLD)
    ]
    locked = dashboard.post(
        "/dashboard/security/password", {**form, "old_password": DEFAULT_PASSWORD}
    )

    assert statuses == [400] * settings.MICRO_LOCKOUT_THRESHOLD
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) > 0
    assert failed_checks(user) == [{"method": "password_change"}] * len(statuses)
    assert_unchanged(user)


@pytest.mark.parametrize("path", ["/api/v1/me/password", "/user/updatePassword"])
def test_a_key_is_refused_before_its_body_is_read(user: User, path: str) -> None:
    """The credential is judged first: a key learns nothing about the input rules from a 400."""
    client = machine_client(user, mint(user, ("profile", "users:read")), "key")

    response = client.post(path, {}, format="json")

    assert response.status_code == 403, response.content
    assert response.json()["code"] == "sign_in_required"
