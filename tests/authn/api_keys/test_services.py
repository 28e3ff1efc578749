"""API-key services: minting rules, storage, authentication, rotation, revocation."""

from __future__ import annotations

import hashlib
import math
import re
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys import services as api_keys
from authn.api_keys.selectors import api_key_get_owned, api_keys_of
from authn.api_keys.services import (
    FreshMfaRequired,
    InvalidApiKey,
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    api_key_rotate,
)
from authn.models import ApiKey
from micro_platform.identity import Principal
from tests.factories import ServiceAccountFactory, UserFactory

KEY_SHAPE = re.compile(r"^mk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$")


def mint(owner: User, scopes: tuple[str, ...] = ("users:read",), **kwargs: Any) -> Any:
    kwargs.setdefault("name", "ci")
    kwargs.setdefault("expires_in_days", 30)
    kwargs.setdefault("actor", None)
    return api_key_create(owner=owner, scopes=scopes, **kwargs)


def actor_for(user: User, *, amr: tuple[str, ...], auth_age: int | None) -> Principal:
    return Principal(
        user_id=user.pk,
        username=user.username,
        kind="user",
        group_ids=(),
        scopes=frozenset({"api_admin"}),
        method="session",
        amr=amr,
        auth_time=None if auth_age is None else int(time.time()) - auth_age,
    )


def test_minted_key_has_the_documented_shape_and_entropy(user: User) -> None:
    minted = mint(user)
    assert KEY_SHAPE.match(minted.key)
    assert minted.key.startswith(f"mk_{minted.api_key.prefix}_")
    secret = minted.key.split("_", 2)[2]
    assert len(secret) * math.log2(64) >= 190


def test_only_a_hash_of_the_secret_is_stored(user: User) -> None:
    minted = mint(user)
    secret = minted.key.split("_", 2)[2]
    row = ApiKey.objects.values().get(pk=minted.api_key.pk)
    assert row["secret_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    stored = " ".join(str(value) for value in row.values())
    assert secret not in stored and minted.key not in stored
    event = AuditEvent.objects.get(type="api_key.created")
    assert secret not in str(event.data) and event.data["prefix"] == minted.api_key.prefix


def test_two_keys_never_share_a_prefix_or_secret(user: User) -> None:
    first, second = mint(user), mint(user)
    assert first.api_key.prefix != second.api_key.prefix
    assert first.key != second.key


def test_default_expiry_is_90_days(user: User) -> None:
    minted = api_key_create(owner=user, name="x", scopes=["profile"], actor=None)
    lifetime = minted.api_key.expires_at - minted.api_key.created_at
    assert abs(lifetime - timedelta(days=90)) < timedelta(seconds=5)


@pytest.mark.parametrize("days", [0, -1, 366, 10_000])
def test_expiry_outside_1_to_365_days_is_a_field_error(user: User, days: int) -> None:
    with pytest.raises(ValidationError) as caught:
        mint(user, expires_in_days=days)
    assert "expires_in_days" in caught.value.message_dict


@pytest.mark.parametrize("days", [1, 365])
def test_expiry_bounds_are_accepted(user: User, days: int) -> None:
    assert mint(user, expires_in_days=days).api_key.pk


def test_scopes_not_held_are_a_field_error(user: User) -> None:
    with pytest.raises(ValidationError) as caught:
        mint(user, scopes=("users:write",))
    assert "users:write" in caught.value.message_dict["scopes"][0]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("scopes", [(), ("nope",), "profile"])
def test_empty_unknown_or_string_scopes_are_field_errors(user: User, scopes: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_create(owner=user, name="x", scopes=scopes, expires_in_days=1, actor=None)
    assert "scopes" in caught.value.message_dict


@pytest.mark.parametrize("name", ["", "   ", "x" * 101])
def test_bad_names_are_field_errors(user: User, name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        mint(user, name=name)
    assert "name" in caught.value.message_dict


def test_service_account_may_mint_only_what_it_was_granted(db: Any) -> None:
    service = ServiceAccountFactory.create(scopes=["users:read"])
    assert mint(service, scopes=("users:read",)).api_key.pk
    with pytest.raises(ValidationError):
        mint(service, scopes=("profile",))


def test_api_admin_key_from_operator_command_needs_no_mfa(admin_user: User) -> None:
    assert mint(admin_user, scopes=("api_admin",), actor=None).api_key.scopes == ["api_admin"]


@pytest.mark.parametrize(
    ("amr", "auth_age"),
    [(("pwd",), 10), (("pwd", "otp"), 16 * 60), (("pwd", "otp"), None)],
)
def test_api_admin_key_needs_a_fresh_mfa_sign_in(
    admin_user: User, amr: tuple[str, ...], auth_age: int | None
) -> None:
    actor = actor_for(admin_user, amr=amr, auth_age=auth_age)
    with pytest.raises(FreshMfaRequired):
        mint(admin_user, scopes=("api_admin",), actor=actor)
    assert not ApiKey.objects.exists()


def test_api_admin_key_with_fresh_mfa_is_minted(admin_user: User) -> None:
    actor = actor_for(admin_user, amr=("pwd", "otp"), auth_age=60)
    minted = mint(admin_user, scopes=("api_admin",), actor=actor)
    event = AuditEvent.objects.get(type="api_key.created")
    assert event.actor_id == admin_user.pk and minted.api_key.scopes == ["api_admin"]


def test_fresh_mfa_is_not_needed_without_api_admin(admin_user: User) -> None:
    actor = actor_for(admin_user, amr=("pwd",), auth_age=None)
    assert mint(admin_user, scopes=("users:write",), actor=actor).api_key.pk


def test_authenticate_returns_the_owner_principal(user: User) -> None:
    minted = mint(user, scopes=("users:read", "profile"))
    principal = api_key_authenticate(raw=minted.key)
    assert principal.user_id == user.pk
    assert principal.method == "api_key"
    assert principal.api_key_id == minted.api_key.pk
    assert principal.scopes == frozenset({"users:read", "profile"})
    assert principal.amr == ("api_key",)


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "mk_",
        "mk_abc_def",
        "mk_0123456789ab_" + "A" * 42,
        "mk_0123456789ab_" + "A" * 44,
        "mk_0123456789AB_" + "A" * 43,
        "mk_0123456789ab_" + "A" * 42 + "\x00",
        "x" * 70_000,
    ],
)
def test_malformed_keys_are_invalid(db: Any, raw: str) -> None:
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=raw)


def test_wrong_secret_with_a_real_prefix_is_invalid(user: User) -> None:
    minted = mint(user)
    wrong = minted.key[:-1] + ("A" if minted.key[-1] != "A" else "B")
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=wrong)
    api_key_authenticate(raw=minted.key)  # cached now; the wrong secret still fails
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=wrong)


def test_unknown_prefix_is_invalid(user: User) -> None:
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw="mk_0123456789ab_" + "A" * 43)


def test_expired_key_is_invalid(user: User) -> None:
    minted = mint(user)
    ApiKey.objects.filter(pk=minted.api_key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=minted.key)


def test_cache_hit_runs_no_query(user: User) -> None:
    minted = mint(user)
    api_key_authenticate(raw=minted.key)
    with CaptureQueriesContext(connection) as queries:
        principal = api_key_authenticate(raw=minted.key)
    assert principal.user_id == user.pk
    assert len(queries) == 0


def test_last_used_at_is_written_at_most_once_a_minute(user: User) -> None:
    minted = mint(user)
    assert minted.api_key.last_used_at is None
    api_key_authenticate(raw=minted.key)
    first = ApiKey.objects.get(pk=minted.api_key.pk).last_used_at
    assert first is not None
    api_keys._touch(minted.api_key.pk)  # a miss within the minute (another worker): no write
    assert ApiKey.objects.get(pk=minted.api_key.pk).last_used_at == first
    ApiKey.objects.filter(pk=minted.api_key.pk).update(
        last_used_at=timezone.now() - timedelta(seconds=61)
    )
    api_keys._touch(minted.api_key.pk)
    latest = ApiKey.objects.get(pk=minted.api_key.pk).last_used_at
    assert latest is not None and latest > first


def test_revoke_is_audited_and_idempotent(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    minted = mint(user)
    api_key_authenticate(raw=minted.key)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(api_key=minted.api_key, actor=None)
        api_key_revoke(api_key=minted.api_key, actor=None)
    assert AuditEvent.objects.filter(type="api_key.revoked").count() == 1
    assert ApiKey.objects.get(pk=minted.api_key.pk).revoked_at is not None
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=minted.key)


def test_rotation_keeps_the_old_key_for_the_grace_period(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    old = mint(user, scopes=("profile",))
    with django_capture_on_commit_callbacks(execute=True):
        new = api_key_rotate(api_key=old.api_key, grace_hours=2, actor=None)
    assert new.api_key.rotated_from_id == old.api_key.pk
    assert new.api_key.scopes == ["profile"] and new.api_key.name == old.api_key.name
    old_row = ApiKey.objects.get(pk=old.api_key.pk)
    assert abs(old_row.expires_at - (timezone.now() + timedelta(hours=2))) < timedelta(seconds=5)
    assert api_key_authenticate(raw=old.key).user_id == user.pk
    assert api_key_authenticate(raw=new.key).api_key_id == new.api_key.pk
    assert AuditEvent.objects.filter(type="api_key.rotated", subject_id=old.api_key.pk).exists()


def test_rotation_without_grace_ends_the_old_key_at_once(
    user: User, django_capture_on_commit_callbacks: Any
) -> None:
    old = mint(user)
    api_key_authenticate(raw=old.key)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_rotate(api_key=old.api_key, grace_hours=0, actor=None)
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=old.key)


@pytest.mark.parametrize("grace", [-1, 721, True])
def test_rotation_grace_outside_bounds_is_a_field_error(user: User, grace: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        api_key_rotate(api_key=mint(user).api_key, grace_hours=grace, actor=None)
    assert "grace_hours" in caught.value.message_dict


def test_revoked_or_already_rotated_keys_cannot_be_rotated(user: User) -> None:
    revoked = mint(user)
    api_key_revoke(api_key=revoked.api_key, actor=None)
    with pytest.raises(ValidationError):
        api_key_rotate(api_key=revoked.api_key, grace_hours=1, actor=None)
    rotated = mint(user)
    api_key_rotate(api_key=rotated.api_key, grace_hours=1, actor=None)
    with pytest.raises(ValidationError):
        api_key_rotate(api_key=rotated.api_key, grace_hours=1, actor=None)


def test_rotating_an_api_admin_key_needs_fresh_mfa(admin_user: User) -> None:
    minted = mint(admin_user, scopes=("api_admin",))
    with pytest.raises(FreshMfaRequired):
        api_key_rotate(
            api_key=minted.api_key,
            grace_hours=1,
            actor=actor_for(admin_user, amr=("pwd",), auth_age=5),
        )


def test_selectors_return_only_the_owners_keys(user: User, other_user: User) -> None:
    mine, theirs = mint(user), mint(other_user)
    assert list(api_keys_of(owner_id=user.pk)) == [mine.api_key]
    assert api_key_get_owned(key_id=mine.api_key.pk, owner_id=user.pk) == mine.api_key
    for key_id in (theirs.api_key.pk, "not-a-uuid", uuid.uuid4()):
        with pytest.raises(ApiKey.DoesNotExist):
            api_key_get_owned(key_id=key_id, owner_id=user.pk)


def test_keys_of_a_deleted_user_go_with_it(db: Any) -> None:
    owner = UserFactory.create()
    minted = mint(owner)
    owner.delete()
    with pytest.raises(InvalidApiKey):
        api_key_authenticate(raw=minted.key)


def test_a_database_dump_contains_no_key_secret(user: User) -> None:
    from io import StringIO

    from django.core.management import call_command

    minted = mint(user)
    rotated = api_key_rotate(api_key=minted.api_key, grace_hours=1, actor=None)
    api_key_authenticate(raw=rotated.key)
    dump = StringIO()
    call_command("dumpdata", stdout=dump)
    for raw in (minted.key, rotated.key):
        secret = raw.split("_", 2)[2]
        assert secret not in dump.getvalue()
    assert minted.api_key.prefix in dump.getvalue()  # the dump did include the keys
