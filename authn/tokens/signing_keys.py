"""Signing keys: RS256 pairs shared by every instance through the database.

Private keys are encrypted at rest (authn.encryption) with a key derived from
DJANGO_SECRET_KEY (and its fallbacks, so the secret can be rotated). Each process keeps a
small key ring in memory so verifying a token needs no query; it re-reads the table every
few seconds and, at most once a second, when a token names a `kid` it has not seen (so a flood
of bogus kids cannot hammer the database).
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeGuard

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from jwt.algorithms import RSAAlgorithm

from audit.services import audit_record
from authn.encryption import SIGNING_KEY, SecretUnreadable, seal, unseal
from authn.models import SigningKey
from micro_client import contract
from micro_platform.errors import DependencyError
from micro_platform.identity import Principal

RSA_KEY_BITS = 2048
# Tokens may be checked with this much clock skew; a retired key outlives its tokens by it.
PUBLISH_SLACK_SECONDS = 300


class SigningKeyError(DependencyError):
    """The signing keys cannot be used (none active, or undecryptable)."""


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint: a stable `kid` derived from the public key itself."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _new_key_row() -> SigningKey:
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)
    jwk = {"kty": "RSA", "n": public["n"], "e": public["e"]}
    kid = _thumbprint(jwk)
    jwk.update({"kid": kid, "alg": contract.ALGORITHM, "use": "sig"})
    return SigningKey(
        kid=kid,
        algorithm=contract.ALGORITHM,
        public_jwk=jwk,
        private_key_encrypted=seal(pem, purpose=SIGNING_KEY),
    )


def signing_key_ensure() -> SigningKey:
    """Returns the active key, creating the first one if there is none (safe under races)."""
    existing = SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).first()
    if existing is not None:
        return existing
    row = _new_key_row()
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        # Another process created the active key first: use theirs.
        return SigningKey.objects.get(status=SigningKey.Status.ACTIVE)
    key_ring.invalidate()
    return row


def signing_key_rotate(*, actor: Principal | None) -> SigningKey:
    """Makes a new key active; the old one stays published until its tokens have expired."""
    now = timezone.now()
    longest = max(settings.MICRO_ACCESS_TOKEN_TTL, 3600)  # access tokens, ID tokens
    with transaction.atomic():
        previous = list(
            SigningKey.objects.select_for_update().filter(status=SigningKey.Status.ACTIVE)
        )
        for key in previous:
            key.status = SigningKey.Status.RETIRED
            key.retired_at = now
            key.publish_until = now + timedelta(seconds=longest + PUBLISH_SLACK_SECONDS)
            key.save(update_fields=["status", "retired_at", "publish_until"])
        row = _new_key_row()
        row.save()
        audit_record(
            type="signing_key.rotated",
            actor=actor,
            subject_type="signing_key",
            subject_id=row.kid,
            data={"retired": [key.kid for key in previous]},
        )
    transaction.on_commit(key_ring.invalidate)
    return row


def published_keys() -> list[SigningKey]:
    """Keys whose public half belongs in the JWKS: the active one and retired ones in grace."""
    now = timezone.now()
    return list(
        SigningKey.objects.filter(
            Q(status=SigningKey.Status.ACTIVE) | Q(publish_until__gt=now)
        ).order_by("-created_at")
    )


def jwks_document() -> dict[str, list[dict[str, Any]]]:
    """The JWKS: public members only (`kty`, `n`, `e`, `kid`, `alg`, `use`)."""
    allowed = ("kty", "n", "e", "kid", "alg", "use")
    return {"keys": [{k: key.public_jwk[k] for k in allowed} for key in published_keys()]}


def signing_keys_cleanup() -> int:
    """Deletes retired keys whose grace period is over; returns how many."""
    deleted, _ = SigningKey.objects.filter(
        status=SigningKey.Status.RETIRED, publish_until__lte=timezone.now()
    ).delete()
    key_ring.invalidate()
    return deleted


@dataclass(frozen=True)
class _Snapshot:
    loaded_at: float
    active_kid: str | None
    active_encrypted: str | None
    public: dict[str, Any]


class KeyRing:
    """Per-process cache of the signing keys (thread-safe; a gunicorn worker owns one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._private: tuple[str, Any] | None = None
        self._last_forced = 0.0

    def invalidate(self) -> None:
        with self._lock:
            self._snapshot = None
            self._private = None

    def _load(self) -> _Snapshot:
        rows = published_keys()
        public = {row.kid: RSAAlgorithm.from_jwk(row.public_jwk) for row in rows}
        active = next((row for row in rows if row.status == SigningKey.Status.ACTIVE), None)
        return _Snapshot(
            time.monotonic(),
            active.kid if active else None,
            active.private_key_encrypted if active else None,
            public,
        )

    def _private_key(self, kid: str, encrypted: str) -> Any:
        # Decrypted only to sign, so verification keeps working if the secret is wrong.
        cached = self._private
        if cached is not None and cached[0] == kid:
            return cached[1]
        try:
            pem = unseal(encrypted, purpose=SIGNING_KEY)
        except SecretUnreadable as exc:
            raise SigningKeyError(
                "the active signing key cannot be decrypted with DJANGO_SECRET_KEY or "
                "DJANGO_SECRET_KEY_FALLBACKS"
            ) from exc
        private = serialization.load_pem_private_key(pem, password=None)
        self._private = (kid, private)
        return private

    @staticmethod
    def _fresh(snapshot: _Snapshot | None) -> TypeGuard[_Snapshot]:
        max_age = settings.MICRO_SIGNING_KEY_REFRESH_SECONDS
        return snapshot is not None and time.monotonic() - snapshot.loaded_at < max_age

    def _current(self, *, force: bool = False) -> _Snapshot:
        snapshot = self._snapshot
        if not force and self._fresh(snapshot):
            return snapshot
        with self._lock:
            # The threads that found the snapshot stale together reload it once: the others,
            # waiting here meanwhile, take the one just loaded.
            snapshot = self._snapshot
            if not force and self._fresh(snapshot):
                return snapshot
            snapshot = self._load()
            self._snapshot = snapshot
            return snapshot

    def signing_key(self) -> tuple[str, Any]:
        snapshot = self._current()
        if snapshot.active_kid is None:
            signing_key_ensure()
            snapshot = self._current(force=True)
        if snapshot.active_kid is None or snapshot.active_encrypted is None:
            raise SigningKeyError("no active signing key")
        return snapshot.active_kid, self._private_key(
            snapshot.active_kid, snapshot.active_encrypted
        )

    def verifying_key(self, kid: str) -> Any | None:
        """The public key for `kid`, or None; an unknown kid re-reads the table at most 1/s."""
        key = self._current().public.get(kid)
        if key is not None:
            return key
        now = time.monotonic()
        if now - self._last_forced < 1.0:
            return None
        self._last_forced = now
        return self._current(force=True).public.get(kid)


key_ring = KeyRing()
