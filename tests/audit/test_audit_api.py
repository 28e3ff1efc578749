"""Audit events: the admin API, the user's own events, no secrets anywhere."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.principals import principal_for_user
from audit.models import AuditEvent
from authn.mfa import services as mfa
from tests.authn.helpers import REVOKE_URL, TOKEN_URL, refresh
from tests.authn.mfa_helpers import CONFIRM_URL, TOTP_URL, code_at, fresh_code

EVENTS_URL = "/api/v1/audit-events"
ME_EVENTS_URL = "/api/v1/me/events"


def event(type: str, actor: uuid.UUID | None = None, subject: str = "", **extra: Any) -> AuditEvent:
    subject_type = "user" if subject else ""
    return AuditEvent.objects.create(
        type=type, actor_id=actor, subject_type=subject_type, subject_id=subject, **extra
    )


def test_admin_lists_every_event_newest_first_with_the_documented_fields(admin_client, user):
    older = event("user.created", actor=user.pk, subject=str(user.pk), ip_address="192.0.2.1")
    AuditEvent.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(hours=1))
    newer = event("login.failed", subject=str(user.pk), data={"method": "password"})
    response = admin_client.get(EVENTS_URL)
    assert response.status_code == 200
    body = response.json()
    assert [row["id"] for row in body["results"]] == [str(newer.pk), str(older.pk)]
    assert body["next"] is None
    first = body["results"][1]
    assert set(first) == {
        "id",
        "type",
        "actor_id",
        "subject_type",
        "subject_id",
        "ip_address",
        "created_at",
        "data",
    }
    assert first["actor_id"] == str(user.pk) and first["ip_address"] == "192.0.2.1"
    assert body["results"][0]["data"] == {"method": "password"}


def test_admin_filters_by_type_actor_and_since(admin_client, user, other_user):
    old = event("login.failed", actor=user.pk)
    AuditEvent.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=2))
    recent = event("login.failed", actor=user.pk)
    event("login.failed", actor=other_user.pk)
    event("password.changed", actor=user.pk)
    since = (timezone.now() - timedelta(days=1)).isoformat()
    response = admin_client.get(
        EVENTS_URL, {"type": "login.failed", "actor_id": str(user.pk), "since": since}
    )
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(recent.pk)]


def test_empty_filters_mean_no_filter(admin_client, user):
    event("login.failed", actor=user.pk)
    response = admin_client.get(EVENTS_URL, {"type": "", "actor_id": "", "since": ""})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_admin_list_is_cursor_paginated(admin_client, user):
    for index in range(5):
        event("user.updated", actor=user.pk, data={"n": index})
    seen: list[str] = []
    url: str | None = f"{EVENTS_URL}?page_size=2"
    while url:
        body = admin_client.get(url).json()
        assert len(body["results"]) <= 2
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert len(seen) == len(set(seen)) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"actor_id": "not-a-uuid"},
        {"since": "yesterday"},
        {"since": "2026-13-45T00:00:00Z"},
        {"type": "x" * 65},
        {"cursor": "garbage"},
    ],
)
def test_bad_filters_are_a_400_problem(admin_client, params):
    response = admin_client.get(EVENTS_URL, params)
    # A cursor this API did not write names no page (404); the filters are 400s.
    assert response.status_code == (404 if "cursor" in params else 400)
    assert response["Content-Type"] == "application/problem+json"


def test_non_admin_cannot_list_audit_events(user_client):
    response = user_client.get(EVENTS_URL)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"


def test_anonymous_cannot_list_audit_events(anon_client, db):
    assert anon_client.get(EVENTS_URL).status_code == 401
    assert anon_client.get(ME_EVENTS_URL).status_code == 401


def test_me_events_shows_only_my_events(user, other_user, user_client):
    mine_as_actor = event("password.changed", actor=user.pk, subject=str(user.pk))
    mine_as_subject = event("login.failed", subject=str(user.pk))
    event("login.failed", subject=str(other_user.pk))
    event("user.updated", actor=other_user.pk, subject=str(other_user.pk))
    # An id in another subject type is not the user.
    AuditEvent.objects.create(type="group.created", subject_type="group", subject_id=str(user.pk))
    response = user_client.get(ME_EVENTS_URL)
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {str(mine_as_actor.pk), str(mine_as_subject.pk)}


def test_me_events_ignores_filters_for_other_users(user, other_user, user_client):
    event("login.failed", subject=str(other_user.pk))
    response = user_client.get(ME_EVENTS_URL, {"actor_id": str(other_user.pk)})
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_me_events_needs_the_profile_scope(user, client_for):
    response = client_for(user, frozenset({"users:read"})).get(ME_EVENTS_URL)
    assert response.status_code == 403


def test_sign_in_flows_leave_no_secret_in_events_or_logs(
    user, password, caplog, django_capture_on_commit_callbacks
):
    """No password, code, backup code or token in an audit event or a log line."""
    caplog.set_level(logging.DEBUG)
    secrets: list[str] = [password, "wrong password 123"]
    with django_capture_on_commit_callbacks(execute=True):
        client = APIClient()
        client.post(TOKEN_URL, {"username": user.username, "password": "wrong password 123"})
        pair = client.post(TOKEN_URL, {"username": user.username, "password": password}).json()
        secrets += [pair["access_token"], pair["refresh_token"]]
        bearer = APIClient()
        bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}")
        enrolment = bearer.post(TOTP_URL).json()
        secrets.append(enrolment["secret"])
        from django_otp.plugins.otp_totp.models import TOTPDevice

        device = TOTPDevice.objects.get(user=user)
        confirm_code = code_at(device)
        codes = bearer.post(CONFIRM_URL, {"otp": confirm_code}, format="json").json()
        secrets += [confirm_code, *codes["backup_codes"]]
        client.post(
            TOKEN_URL,
            {"username": user.username, "password": password, "otp": "9999999"},
            format="json",
        )
        login_code = fresh_code(device)
        secrets.append(login_code)
        second = client.post(
            TOKEN_URL,
            {"username": user.username, "password": password, "otp": login_code},
            format="json",
        ).json()
        secrets += [second["access_token"], second["refresh_token"]]
        backup_pair = client.post(
            TOKEN_URL,
            {"username": user.username, "password": password, "otp": codes["backup_codes"][0]},
            format="json",
        ).json()
        secrets += [backup_pair["refresh_token"]]
        rotated = refresh(second["refresh_token"]).json()
        secrets.append(rotated["refresh_token"])
        client.post(REVOKE_URL, {"token": rotated["refresh_token"]}, format="json")
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {"login.failed", "login.succeeded", "mfa.enrolled", "mfa.failed"} <= types
    assert {"token.issued", "token.refreshed", "token.revoked"} <= types
    stored = json.dumps(list(AuditEvent.objects.values("type", "subject_id", "data")), default=str)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "login.succeeded" in logged and "mfa.failed" in logged
    for secret in secrets:
        assert secret not in stored
        assert secret not in logged
        assert secret.replace("-", "") not in stored


def test_sign_in_log_lines_are_one_structured_line_per_event(
    user, password, caplog, django_capture_on_commit_callbacks
):
    caplog.set_level(logging.INFO, logger="micro.auth")
    client = APIClient(REMOTE_ADDR="192.0.2.44")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(TOKEN_URL, {"username": user.username, "password": "nope nope nope"})
        client.post(TOKEN_URL, {"username": user.username, "password": password})
    lines = [r.getMessage() for r in caplog.records if r.name == "micro.auth"]
    assert f"login.failed method=password ip=192.0.2.44 subject=user:{user.pk}" in lines
    assert f"login.succeeded user={user.pk} method=password ip=192.0.2.44" in lines
    for line in lines:
        assert "\n" not in line
        name, *pairs = line.split(" ")
        assert all("=" in pair for pair in pairs), line


def test_mfa_failure_log_line(user, caplog):
    from tests.authn.mfa_helpers import enrol

    enrol(user)
    caplog.set_level(logging.INFO, logger="micro.auth")
    with pytest.raises(mfa.MfaInvalid):
        mfa.mfa_verify(user=user, code="0000000", ip_address="192.0.2.5")
    lines = [r.getMessage() for r in caplog.records if r.name == "micro.auth"]
    assert lines == [f"mfa.failed user={user.pk} ip=192.0.2.5"]


def test_account_and_key_changes_write_their_event_types(user, admin_user, password):
    admin = principal_for_user(admin_user, method="jwt")
    created = account_services.user_create(actor=admin, username="newcomer", email="n@example.com")
    account_services.user_update(actor=admin, user=created, changes={"display_name": "N"})
    account_services.user_password_change(
        actor=principal_for_user(user, method="jwt", amr=("pwd",)),  # a person's sign-in
        user=user,
        old_password=password,
        new_password="another long passphrase 99",
    )
    account_services.user_deactivate(actor=admin, user=created)
    call_command("rotate_signing_key", verbosity=0)
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {
        "user.created",
        "user.updated",
        "password.changed",
        "user.deactivated",
        "signing_key.rotated",
    } <= types


def test_refresh_token_reuse_writes_token_reuse_detected(user, password):
    pair = APIClient().post(TOKEN_URL, {"username": user.username, "password": password}).json()
    assert refresh(pair["refresh_token"]).status_code == 200
    assert refresh(pair["refresh_token"]).status_code == 401
    assert AuditEvent.objects.filter(type="token.reuse_detected", actor_id=user.pk).exists()


def test_ensure_admin_audits_the_user_it_creates(db):
    call_command("ensure_admin", stdout=StringIO())
    created = AuditEvent.objects.get(type="user.created")
    assert created.data["via"] == "ensure_admin"
    assert "password" not in json.dumps(created.data)


def test_user_changes_in_the_django_admin_are_audited(user, admin_user):
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "username": user.username,
            "password": user.password,
            "display_name": "Renamed In Admin",
            "email": user.email,
            "avatar_url": "",
            "kind": "user",
            "is_active": "on",
            "scopes": "[]",
        },
        secure=True,
    )
    assert response.status_code == 302, response.content[:2000]
    updated = AuditEvent.objects.get(type="user.updated")
    assert updated.actor_id == admin_user.pk and updated.subject_id == str(user.pk)
    assert updated.data["via"] == "admin" and "display_name" in updated.data["fields"]
    assert "Renamed In Admin" not in json.dumps(updated.data)


def test_a_password_set_in_the_django_admin_is_audited_and_ends_sign_ins(
    user, admin_user, password
):
    pair = APIClient().post(TOKEN_URL, {"username": user.username, "password": password}).json()
    browser = Client()
    browser.force_login(admin_user)
    new = "an admin chosen passphrase 42"
    response = browser.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
        secure=True,
    )
    assert response.status_code == 302, response.content[:3000]
    changed = AuditEvent.objects.get(type="password.changed")
    assert changed.subject_id == str(user.pk) and changed.data == {"via": "admin"}
    assert refresh(pair["refresh_token"]).status_code == 401


def test_deactivating_in_the_django_admin_ends_every_credential(user, admin_user, password):
    pair = APIClient().post(TOKEN_URL, {"username": user.username, "password": password}).json()
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        f"/admin/accounts/user/{user.pk}/change/",
        {
            "username": user.username,
            "password": user.password,
            "display_name": user.display_name,
            "email": user.email,
            "avatar_url": "",
            "kind": "user",
            "scopes": "[]",
        },  # is_active left unchecked: deactivate
        secure=True,
    )
    assert response.status_code == 302, response.content[:2000]
    deactivated = AuditEvent.objects.get(type="user.deactivated")
    assert deactivated.actor_id == admin_user.pk and deactivated.data == {"via": "admin"}
    me = APIClient(HTTP_AUTHORIZATION=f"Bearer {pair['access_token']}").get("/api/v1/me")
    assert me.status_code == 401
    assert refresh(pair["refresh_token"]).status_code == 401
