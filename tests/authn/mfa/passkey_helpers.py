"""A software WebAuthn authenticator for server-side tests: exact, and free of browser timing.

It makes the JSON a browser's `navigator.credentials.create()` / `.get()` would post (what
@simplewebauthn/browser sends), for a P-256 key it holds, with every flag and field a test may
want wrong: the RP ID, origin, challenge, user presence and verification, backup flags and the
signature counter.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

UP, UV, BE, BS, AT = 0x01, 0x04, 0x08, 0x10, 0x40


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class SoftAuthenticator:
    """One credential: `register()` creates it, `assert_()` signs in with it."""

    rp_id: str = "localhost"
    origin: str = "http://localhost:8000"
    backup_eligible: bool = False
    backed_up: bool = False
    resident: bool = True
    sign_count: int = 0
    credential_id: bytes = field(default_factory=lambda: secrets.token_bytes(32))
    user_handle: bytes | None = None
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def id(self) -> str:
        """The credential id as the browser names it (base64url)."""
        return b64url(self.credential_id)

    def _flags(self, *, up: bool, uv: bool, attested: bool = False) -> int:
        flags = (UP if up else 0) | (UV if uv else 0) | (AT if attested else 0)
        flags |= BE if self.backup_eligible else 0
        flags |= BS if self.backed_up else 0
        return flags

    def _client_data(self, kind: str, challenge: str, origin: str | None) -> bytes:
        data = {"type": kind, "challenge": challenge, "origin": origin or self.origin}
        return json.dumps({**data, "crossOrigin": False}).encode()

    def _cose_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})

    def register(
        self,
        options: dict[str, Any],
        *,
        uv: bool = True,
        up: bool = True,
        rp_id: str | None = None,
        origin: str | None = None,
        challenge: str | None = None,
        transports: tuple[str, ...] = ("internal",),
    ) -> dict[str, Any]:
        """The registration response (attestation "none") to creation `options`."""
        handle = options.get("user", {}).get("id")
        self.user_handle = b64url_decode(handle) if handle else None
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        auth_data = (
            rp_hash
            + bytes([self._flags(up=up, uv=uv, attested=True)])
            + struct.pack(">I", self.sign_count)
            + bytes(16)  # AAGUID: none given
            + struct.pack(">H", len(self.credential_id))
            + self.credential_id
            + self._cose_key()
        )
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        client_data = self._client_data(
            "webauthn.create", challenge or options["challenge"], origin
        )
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "attestationObject": b64url(attestation),
                "transports": list(transports),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {"credProps": {"rk": self.resident}},
        }

    def assert_(
        self,
        options: dict[str, Any],
        *,
        uv: bool = True,
        up: bool = True,
        sign_count: int | None = None,
        rp_id: str | None = None,
        origin: str | None = None,
        challenge: str | None = None,
        bad_signature: bool = False,
    ) -> dict[str, Any]:
        """The authentication response to request `options`; the counter moves up by one
        unless `sign_count` is given (synced passkeys report 0 every time)."""
        self.sign_count = self.sign_count + 1 if sign_count is None else sign_count
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        flags = bytes([self._flags(up=up, uv=uv)])
        auth_data = rp_hash + flags + struct.pack(">I", self.sign_count)
        client_data = self._client_data("webauthn.get", challenge or options["challenge"], origin)
        signed = auth_data + hashlib.sha256(client_data).digest()
        signature = self.private_key.sign(signed, ec.ECDSA(hashes.SHA256()))
        if bad_signature:
            signature = self.private_key.sign(signed + b"x", ec.ECDSA(hashes.SHA256()))
        response: dict[str, Any] = {
            "clientDataJSON": b64url(client_data),
            "authenticatorData": b64url(auth_data),
            "signature": b64url(signature),
        }
        if self.resident and self.user_handle is not None:
            response["userHandle"] = b64url(self.user_handle)
        return {
            "id": self.id,
            "rawId": self.id,
            "type": "public-key",
            "response": response,
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }
