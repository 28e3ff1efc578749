"""Password rules beyond Django's (an upper bound: NIST 800-63B allows long passphrases), and
the characters a display name may not hold."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator


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


# Bidirectional marks, embeddings, overrides and isolates: they reorder what a reader sees.
_BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def is_layout_control(char: str) -> bool:
    """True for a character that breaks or disguises a line of text: a C0/C1 control (line
    breaks, tab, NUL, ESC), a Unicode line or paragraph separator, or a bidirectional control."""
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


# The same characters as a pattern, which the API schema states: C0 and C1 controls (Cc),
# the line and paragraph separators (Zl, Zp) and the bidirectional controls.
DISPLAY_NAME_PATTERN = (
    r"^[^\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]*$"
)

# A display name is one line of visible text: it goes into emails and pages verbatim.
display_name_validator = RegexValidator(
    re.compile(DISPLAY_NAME_PATTERN.removesuffix("$") + r"\Z"),
    "Enter a display name without line breaks or control characters.",
)


# A message, not a secret.
NO_PASSWORD_FOR_SERVICE_ACCOUNTS = "A service account has no password: it uses API keys."  # noqa: S105
