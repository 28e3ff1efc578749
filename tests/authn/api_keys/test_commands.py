"""mint_api_key, revoke_api_key and createserviceaccount."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys.services import InvalidApiKey, api_key_authenticate, api_key_create
from authn.models import ApiKey


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def last_json(output: str) -> Any:
    return json.loads(output.strip().splitlines()[-1])


def test_mint_api_key_json_prints_the_spec_fields_and_a_working_key(
    user: User, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        output = run(
            "mint_api_key", "--user", user.username, "--scope", "profile", "users:read", "--json"
        )
    data = last_json(output)
    assert set(data) == {"id", "prefix", "key", "scopes", "expires_at"}
    assert data["scopes"] == ["profile", "users:read"]
    principal = api_key_authenticate(raw=data["key"])
    assert principal.user_id == user.pk and str(principal.api_key_id) == data["id"]
    assert data["key"] not in caplog.text
    assert AuditEvent.objects.filter(type="api_key.created", actor_id=None).exists()


def test_mint_api_key_accepts_repeated_scope_flags_and_expiry(user: User) -> None:
    data = last_json(
        run(
            "mint_api_key",
            "--user",
            user.username.upper(),
            "--scope",
            "profile",
            "--scope",
            "objects:read",
            "--expires-in-days",
            "7",
            "--json",
        )
    )
    key = ApiKey.objects.get(pk=data["id"])
    assert key.scopes == ["objects:read", "profile"]
    assert round((key.expires_at - key.created_at) / timedelta(days=1)) == 7


def test_mint_api_key_plain_output_shows_the_key_once(user: User) -> None:
    output = run("mint_api_key", "--user", user.username, "--scope", "profile")
    key_lines = [line for line in output.splitlines() if line.startswith("key: mk_")]
    assert len(key_lines) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--user", "nobody", "--scope", "profile"], "No user named"),
        (["--scope", "nope"], "nope"),
        (["--scope", "users:write"], "users:write"),
        (["--scope", "profile", "--expires-in-days", "0"], "expires_in_days"),
        (["--scope", "profile", "--expires-in-days", "400"], "expires_in_days"),
    ],
)
def test_mint_api_key_reports_clear_errors(user: User, args: list[str], message: str) -> None:
    if "--user" not in args:
        args = ["--user", user.username, *args]
    with pytest.raises(CommandError, match=message):
        run("mint_api_key", *args)
    assert not ApiKey.objects.exists()


def test_mint_api_key_admin_key_from_the_command_line_needs_no_mfa(admin_user: User) -> None:
    data = last_json(
        run("mint_api_key", "--user", admin_user.username, "--scope", "api_admin", "--json")
    )
    assert data["scopes"] == ["api_admin"]


def test_revoke_api_key_stops_the_key(user: User, django_capture_on_commit_callbacks: Any) -> None:
    data = last_json(run("mint_api_key", "--user", user.username, "--scope", "profile", "--json"))
    api_key_authenticate(raw=data["key"])
    with django_capture_on_commit_callbacks(execute=True):
        output = run("revoke_api_key", data["id"])
    assert "Revoked" in output
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=data["key"])
    assert "already revoked" in run("revoke_api_key", data["id"])


@pytest.mark.parametrize("key_id", ["00000000-0000-0000-0000-000000000000", "junk"])
def test_revoke_api_key_unknown_id_is_an_error(db: Any, key_id: str) -> None:
    with pytest.raises(CommandError, match="No API key"):
        run("revoke_api_key", key_id)


def test_createserviceaccount_with_api_key_json(db: Any) -> None:
    data = last_json(
        run(
            "createserviceaccount",
            "billing",
            "--scope",
            "users:read",
            "--scope",
            "objects:read",
            "--api-key",
            "--json",
        )
    )
    assert set(data) == {"id", "username", "scopes", "api_key"}
    account = User.objects.get(pk=data["id"])
    assert account.kind == "service" and account.username == "billing"
    assert data["scopes"] == ["objects:read", "users:read"]
    principal = api_key_authenticate(raw=data["api_key"])
    assert principal.kind == "service"
    assert principal.scopes == frozenset({"objects:read", "users:read"})


def test_createserviceaccount_without_api_key(db: Any) -> None:
    data = last_json(run("createserviceaccount", "svc", "--scope", "users:read", "--json"))
    assert set(data) == {"id", "username", "scopes"}
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["svc", "--scope", "nope"], "nope"),
        (["bad name!", "--scope", "users:read"], "username"),
        (["bad name!", "--scope", "users:read", "--oauth-client"], "username"),
    ],
)
def test_createserviceaccount_reports_clear_errors(db: Any, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("createserviceaccount", *args)
    assert not User.objects.exists()


def test_createserviceaccount_existing_name_is_an_error(user: User) -> None:
    with pytest.raises(CommandError, match="already exists"):
        run("createserviceaccount", user.username, "--scope", "users:read")


def test_cleanup_expired_deletes_api_keys_a_month_after_they_ended(user: User) -> None:
    long_expired = api_key_create(
        owner=user, name="old", scopes=["profile"], expires_in_days=1, actor=None
    ).api_key
    long_revoked = api_key_create(
        owner=user, name="revoked", scopes=["profile"], expires_in_days=90, actor=None
    ).api_key
    recently_expired = api_key_create(
        owner=user, name="recent", scopes=["profile"], expires_in_days=1, actor=None
    ).api_key
    live = api_key_create(
        owner=user, name="live", scopes=["profile"], expires_in_days=90, actor=None
    ).api_key
    now = timezone.now()
    ApiKey.objects.filter(pk=long_expired.pk).update(expires_at=now - timedelta(days=31))
    ApiKey.objects.filter(pk=long_revoked.pk).update(revoked_at=now - timedelta(days=31))
    ApiKey.objects.filter(pk=recently_expired.pk).update(expires_at=now - timedelta(days=2))
    out = StringIO()
    call_command("cleanup_expired", stdout=out)
    assert "API keys: 2 deleted" in out.getvalue()
    assert set(ApiKey.objects.values_list("pk", flat=True)) == {recently_expired.pk, live.pk}


def test_the_django_admin_revokes_keys_through_the_service_and_never_shows_the_hash(
    user: User, admin_user: User
) -> None:
    minted = api_key_create(
        owner=user, name="ci", scopes=["profile"], expires_in_days=9, actor=None
    )
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get(f"/admin/authn/apikey/{minted.api_key.pk}/change/", secure=True)
    assert page.status_code == 200
    assert minted.api_key.secret_hash.encode() not in page.content
    response = browser.post(
        "/admin/authn/apikey/",
        {"action": "revoke", "_selected_action": [str(minted.api_key.pk)]},
        secure=True,
    )
    assert response.status_code == 302
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=minted.key)
    revoked = AuditEvent.objects.get(type="api_key.revoked")
    assert revoked.actor_id == admin_user.pk
