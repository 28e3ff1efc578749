"""Device-flow user codes: what a person reads off a device and types into `/o/device/`.

A code is eight letters from an alphabet without vowels or digits (no O/0, I/1 to confuse,
no words spelled by accident), shown in two groups of four: `WDJB-MJHT`. Twenty letters to
the power of eight is about 2^34.6 codes; a code lives minutes, and the verification page
limits wrong entries per user, so guessing one is impractical. Entered codes are compared
after `user_code_normalize`, so case, spaces and hyphens do not matter.

The module imports no models at import time: the settings name its generator.
"""

from __future__ import annotations

import secrets

USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
USER_CODE_LENGTH = 8
USER_CODE_GROUP = 4
# Long enough for any pasted variant of a code (separators, spaces), short enough to bound work.
USER_CODE_MAX_INPUT = 64
# Hyphens as keyboards and phones type them; whitespace is dropped too.
SEPARATORS = frozenset("-\u2010\u2011\u2012\u2013\u2014")


def _grouped(letters: str) -> str:
    return f"{letters[:USER_CODE_GROUP]}-{letters[USER_CODE_GROUP:]}"


def user_code_generate() -> str:
    """A new user code in its displayed form, distinct from every stored device grant's."""
    from oauth2_provider.models import get_device_grant_model

    grants = get_device_grant_model().objects
    while True:
        letters = "".join(secrets.choice(USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH))
        code = _grouped(letters)
        # Two grants sharing a code would make the code name neither: draw again.
        if not grants.filter(user_code=code).exists():
            return code


def user_code_normalize(raw: str) -> str | None:
    """The stored form of a code as a person typed it (any case; spaces and hyphens
    anywhere), or None when it cannot be a code at all."""
    letters = "".join(char for char in raw.upper() if not (char.isspace() or char in SEPARATORS))
    if len(letters) != USER_CODE_LENGTH or any(c not in USER_CODE_ALPHABET for c in letters):
        return None
    return _grouped(letters)
