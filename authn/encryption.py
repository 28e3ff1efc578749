"""Secrets stored encrypted at rest: signing keys' private halves, identity providers' client
secrets.

Fernet with a key derived (HKDF) from DJANGO_SECRET_KEY and its fallbacks, so the secret can be
rotated: a value sealed under an old secret still opens while that secret is a fallback. Each
kind of secret has its own derivation salt, so one kind's ciphertext never opens as another.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

SIGNING_KEY = b"micro.signing-key"
IDP_CLIENT_SECRET = b"micro.idp-client-secret"


class SecretUnreadable(Exception):
    """The value was sealed under a secret that is no longer configured, or is corrupt."""


def _fernet_for(secret: str, purpose: bytes) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=purpose, info=b"fernet").derive(
        secret.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def _cipher(purpose: bytes) -> MultiFernet:
    secrets_in_order = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    return MultiFernet([_fernet_for(secret, purpose) for secret in secrets_in_order])


def seal(plaintext: bytes, *, purpose: bytes) -> str:
    return _cipher(purpose).encrypt(plaintext).decode()


def unseal(sealed: str, *, purpose: bytes) -> bytes:
    try:
        return _cipher(purpose).decrypt(sealed.encode())
    except InvalidToken as exc:
        raise SecretUnreadable(str(exc) or "undecryptable") from exc
