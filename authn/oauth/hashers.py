"""The hasher for OAuth 2.0 client secrets: salted SHA-256, not a password hasher.

django-oauth-toolkit hashes client secrets with Django's default password hasher, here
Argon2id at OWASP cost (~50 ms and 19 MiB per check): that cost exists to slow guessing of
low-entropy passwords, but every client-credentials token request pays it. The service
generates client secrets itself (django-oauth-toolkit's generator: 128 characters from a
62-character alphabet, about 760 bits), which no amount of guessing reaches, so a fast
digest stores them as safely as a slow one — the same reasoning as for API keys and
refresh tokens, which are stored as SHA-256.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.contrib.auth.hashers import BasePasswordHasher, mask_hash
from django.utils.crypto import constant_time_compare


class ClientSecretHasher(BasePasswordHasher):
    algorithm = "micro_secret_sha256"

    def encode(self, password: str, salt: str) -> str:
        if password is None or not salt or "$" in salt:
            raise ValueError("a password and a salt without '$' are required")
        digest = hashlib.sha256(f"{salt}${password}".encode()).hexdigest()
        return f"{self.algorithm}${salt}${digest}"

    def decode(self, encoded: str) -> dict[str, Any]:
        algorithm, salt, digest = encoded.split("$", 2)
        assert algorithm == self.algorithm  # noqa: S101 - Django's hashers check the same way
        return {"algorithm": algorithm, "hash": digest, "salt": salt}

    def verify(self, password: str, encoded: str) -> bool:
        salt = self.decode(encoded)["salt"]
        return constant_time_compare(encoded, self.encode(password, salt))

    def safe_summary(self, encoded: str) -> dict[Any, Any]:
        decoded = self.decode(encoded)
        return {
            "algorithm": decoded["algorithm"],
            "salt": mask_hash(decoded["salt"], show=2),
            "hash": mask_hash(decoded["hash"]),
        }

    def harden_runtime(self, password: str, encoded: str) -> None:
        pass
