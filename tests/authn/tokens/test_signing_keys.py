"""Signing keys at rest, the one-active-key rule, and the key management commands."""

from __future__ import annotations

import io
import threading
import time
from datetime import timedelta

import pytest
from cryptography.fernet import InvalidToken
from cryptography.hazmat.primitives import serialization
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.utils import timezone
from jwt.algorithms import RSAAlgorithm
from rest_framework.test import APIClient

from audit.models import AuditEvent
from authn import encryption
from authn.models import RefreshToken, RevokedToken, Session, SigningKey, TokenFamily
from authn.tokens import signing_keys
from authn.tokens.signing_keys import SigningKeyError, key_ring, signing_key_ensure
from micro_platform.models import Counter
from tests.authn.helpers import me_status
from tests.conftest import token_for
from tests.factories import DEFAULT_PASSWORD

OLD_SECRET = "test-only-secret-key-not-for-production-use"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def decrypt(row: SigningKey) -> bytes:
    return encryption.unseal(row.private_key_encrypted, purpose=encryption.SIGNING_KEY)


# --- encryption at rest -----------------------------------------------------------------------


def test_private_key_is_stored_encrypted(db):
    row = signing_key_ensure()

    row.refresh_from_db()
    assert "BEGIN PRIVATE KEY" not in row.private_key_encrypted
    assert "PRIVATE" not in row.private_key_encrypted
    assert b"BEGIN PRIVATE KEY" in decrypt(row)


def test_decrypted_private_key_matches_the_published_public_key(db):
    row = signing_key_ensure()

    private_key = serialization.load_pem_private_key(decrypt(row), password=None)

    public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)  # type: ignore[call-overload]
    assert (public["n"], public["e"]) == (row.public_jwk["n"], row.public_jwk["e"])


def test_private_key_does_not_decrypt_with_another_secret(db):
    row = signing_key_ensure()

    with pytest.raises(InvalidToken):
        other = encryption._fernet_for("some other secret", encryption.SIGNING_KEY)
        other.decrypt(row.private_key_encrypted.encode())


def test_key_ring_refuses_a_key_encrypted_under_another_secret_key(db, settings):
    signing_key_ensure()
    settings.SECRET_KEY = "a-different-secret-key-after-a-careless-rotation"
    settings.SECRET_KEY_FALLBACKS = []
    key_ring.invalidate()

    with pytest.raises(SigningKeyError):
        key_ring.signing_key()


def test_undecryptable_key_still_verifies_tokens_but_signing_answers_503(db, settings, user):
    signing_key_ensure()
    token = token_for(user)
    settings.SECRET_KEY = "a-different-secret-key-after-a-careless-rotation"
    settings.SECRET_KEY_FALLBACKS = []
    key_ring.invalidate()

    assert me_status(token) == 200
    response = APIClient().post(
        "/api/v1/auth/token",
        {"username": user.username, "password": DEFAULT_PASSWORD},
        format="json",
    )
    assert response.status_code == 503
    assert response.json()["code"] == "dependency_unavailable"


def test_key_ring_decrypts_with_the_old_secret_in_fallbacks(db, settings, user):
    kid = signing_key_ensure().kid
    old_token = token_for(user)
    settings.SECRET_KEY = "the-new-secret-key-of-this-deployment"
    settings.SECRET_KEY_FALLBACKS = [OLD_SECRET]
    key_ring.invalidate()

    active_kid, private_key = key_ring.signing_key()

    assert active_kid == kid
    assert private_key is not None
    assert me_status(old_token) == 200
    assert me_status(token_for(user)) == 200


def test_key_created_after_a_secret_rotation_uses_the_new_secret(
    db, settings, django_capture_on_commit_callbacks
):
    signing_key_ensure()
    settings.SECRET_KEY = "the-new-secret-key-of-this-deployment"
    settings.SECRET_KEY_FALLBACKS = [OLD_SECRET]
    with django_capture_on_commit_callbacks(execute=True):
        row = signing_keys.signing_key_rotate(actor=None)

    fresh = encryption._fernet_for("the-new-secret-key-of-this-deployment", encryption.SIGNING_KEY)
    assert b"BEGIN PRIVATE KEY" in fresh.decrypt(row.private_key_encrypted.encode())


# --- one active key ---------------------------------------------------------------------------


def test_database_allows_only_one_active_key(db):
    signing_key_ensure()

    with pytest.raises(IntegrityError), transaction.atomic():
        signing_keys._new_key_row().save()

    assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1


def test_database_allows_several_retired_keys(db):
    for _ in range(2):
        row = signing_keys._new_key_row()
        row.status = SigningKey.Status.RETIRED
        row.save()

    assert SigningKey.objects.filter(status=SigningKey.Status.RETIRED).count() == 2


def test_ensure_returns_the_existing_active_key(db):
    first = signing_key_ensure()

    assert signing_key_ensure().pk == first.pk
    assert SigningKey.objects.count() == 1


def test_kid_is_the_rfc7638_thumbprint_of_the_public_key(db):
    row = signing_key_ensure()

    assert row.kid == signing_keys._thumbprint(row.public_jwk)
    assert len(row.kid) == 43


# --- rotate_signing_key -----------------------------------------------------------------------


def test_rotate_if_missing_creates_the_first_key_once(db):
    first = run("rotate_signing_key", "--if-missing")
    second = run("rotate_signing_key", "--if-missing")

    kid = SigningKey.objects.get(status=SigningKey.Status.ACTIVE).kid
    assert first.strip() == f"Created signing key: kid={kid}"
    assert second.strip() == f"Active signing key: kid={kid}"
    assert SigningKey.objects.count() == 1


def test_rotate_if_missing_keeps_an_existing_key(db):
    existing = signing_key_ensure()

    run("rotate_signing_key", "--if-missing")

    assert SigningKey.objects.get().kid == existing.kid
    assert not AuditEvent.objects.filter(type="signing_key.rotated").exists()


def test_rotate_retires_the_active_key_and_audits_it(db, django_capture_on_commit_callbacks):
    old = signing_key_ensure()

    with django_capture_on_commit_callbacks(execute=True):
        output = run("rotate_signing_key")

    old.refresh_from_db()
    new = SigningKey.objects.get(status=SigningKey.Status.ACTIVE)
    assert old.status == SigningKey.Status.RETIRED
    assert old.retired_at is not None
    assert old.publish_until is not None and old.publish_until > timezone.now()
    assert f"New active signing key: kid={new.kid}" in output
    assert f"Retired kid={old.kid}" in output
    event = AuditEvent.objects.get(type="signing_key.rotated")
    assert event.subject_id == new.kid
    assert event.data == {"retired": [old.kid]}


def test_rotate_with_no_key_creates_one(db, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run("rotate_signing_key")

    assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1


# --- cleanup_expired --------------------------------------------------------------------------


def _expired_and_live_state(user) -> None:
    now = timezone.now()
    past, future = now - timedelta(minutes=5), now + timedelta(hours=1)
    for expires_at, tag in ((past, "old"), (future, "new")):
        family = TokenFamily.objects.create(user=user, scope="profile", expires_at=expires_at)
        RefreshToken.objects.create(family=family, token_hash=f"{tag}-rt", expires_at=expires_at)
        Session.objects.create(user=user, secret_hash=f"{tag}-session", expires_at=expires_at)
        RevokedToken.objects.create(kind="jti", value=f"{tag}-jti", expires_at=expires_at)
        Counter.objects.create(key=f"{tag}-counter", value=3, expires_at=expires_at)
    live = signing_key_ensure()
    for publish_until in (past, future):
        row = signing_keys._new_key_row()
        row.status = SigningKey.Status.RETIRED
        row.publish_until = publish_until
        row.save()
    assert live.status == SigningKey.Status.ACTIVE


def test_cleanup_expired_reports_and_deletes_only_expired_state(user):
    _expired_and_live_state(user)

    output = run("cleanup_expired")

    assert output.splitlines() == [
        "token families: 1 deleted",
        "refresh tokens: 1 deleted",
        "sessions: 1 deleted",
        "revocations: 1 deleted",
        "signing keys: 1 deleted",
        "dashboard sessions: 0 deleted",
        "API keys: 0 deleted",
        "counters: 1 deleted",
        "OAuth device codes: 0 deleted",
        "OAuth code records: 0 deleted",
        "OAuth sign-in records: 0 deleted",
        "OAuth access, refresh and ID tokens and codes: expired ones deleted",
    ]
    assert TokenFamily.objects.count() == 1
    assert RefreshToken.objects.get().token_hash == "new-rt"
    assert Session.objects.get().secret_hash == "new-session"
    assert RevokedToken.objects.get().value == "new-jti"
    assert Counter.objects.get().key == "new-counter"
    assert SigningKey.objects.count() == 2
    assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1


def test_cleanup_expired_with_nothing_to_do_reports_zero(db):
    output = run("cleanup_expired")

    assert output.splitlines() == [
        "token families: 0 deleted",
        "refresh tokens: 0 deleted",
        "sessions: 0 deleted",
        "revocations: 0 deleted",
        "signing keys: 0 deleted",
        "dashboard sessions: 0 deleted",
        "API keys: 0 deleted",
        "counters: 0 deleted",
        "OAuth device codes: 0 deleted",
        "OAuth code records: 0 deleted",
        "OAuth sign-in records: 0 deleted",
        "OAuth access, refresh and ID tokens and codes: expired ones deleted",
    ]


def test_cleanup_keeps_the_active_key_even_with_a_past_publish_until(db):
    row = signing_key_ensure()
    SigningKey.objects.filter(pk=row.pk).update(publish_until=timezone.now() - timedelta(days=1))

    run("cleanup_expired")

    assert SigningKey.objects.filter(pk=row.pk).exists()


# --- the key ring -----------------------------------------------------------------------------


def test_threads_finding_the_key_ring_stale_together_reload_it_once(db, monkeypatch):
    signing_key_ensure()
    ring = signing_keys.KeyRing()
    loaded = ring._load()
    loads: list[int] = []

    def counting_load() -> signing_keys._Snapshot:
        loads.append(1)
        return loaded

    monkeypatch.setattr(ring, "_load", counting_load)
    with ring._lock:  # another thread is reloading the stale ring
        waiter = threading.Thread(target=ring._current)
        waiter.start()
        time.sleep(0.2)  # the waiter found no fresh snapshot and waits for the lock
        ring._snapshot = loaded  # what the other thread loaded
    waiter.join(timeout=5)

    assert loads == []
    assert ring._current() is loaded
