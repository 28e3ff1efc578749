"""Argon2id at the OWASP parameters (19 MiB, t=2, p=1), configurable upwards."""

from django.conf import settings
from django.contrib.auth.hashers import Argon2PasswordHasher


class OwaspArgon2idHasher(Argon2PasswordHasher):
    """Argon2id; cost from MICRO_ARGON2_* settings, never below the OWASP minimum."""

    algorithm = "argon2"

    @property
    def memory_cost(self) -> int:  # type: ignore[override]
        return int(settings.MICRO_ARGON2_MEMORY_KIB)

    @property
    def time_cost(self) -> int:  # type: ignore[override]
        return int(settings.MICRO_ARGON2_TIME_COST)

    @property
    def parallelism(self) -> int:  # type: ignore[override]
        return int(settings.MICRO_ARGON2_PARALLELISM)
