"""Password rules beyond Django's: an upper bound (NIST 800-63B allows long passphrases)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


class MaximumLengthValidator:
    """Rejects passwords over `max_length` characters (bounds hashing cost); no other rules."""

    def __init__(self, max_length: int = 256) -> None:
        self.max_length = max_length

    def validate(self, password: str, user: Any = None) -> None:
        if len(password) > self.max_length:
            raise ValidationError(
                f"This password is too long: at most {self.max_length} characters.",
                code="password_too_long",
                params={"max_length": self.max_length},
            )

    def get_help_text(self) -> str:
        return f"Your password can be at most {self.max_length} characters."
