"""Passkeys (WebAuthn credentials): a second factor, and with a discoverable credential that
verified its user, a sign-in without a password.

django-otp-webauthn provides the credential model (a django-otp device holding the public key
only), its migrations and the browser script; authn.mfa.webauthn holds the ceremonies (its
helper, with our checks). This module is what the rest of the service asks of passkeys.
"""

from __future__ import annotations

from collections.abc import Sequence

from django_otp_webauthn.models import WebAuthnCredential
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication

from accounts.models import User
from micro_platform.identity import Principal


class PasskeyNotFound(Exception):
    """No such passkey of this user."""


class PasskeyCloned(Exception):
    """A valid assertion whose signature counter went backwards: the credential was copied.
    It is disabled and audited."""


class CredentialExists(Exception):
    """The credential is already registered (to this or another account)."""


def user_has_passkey(*, user: User) -> bool:
    """True when the user has a confirmed (enabled) passkey."""
    raise NotImplementedError


def passkeys_of(*, user: User) -> Sequence[WebAuthnCredential]:
    """The user's passkeys, oldest first (disabled ones too)."""
    raise NotImplementedError


def passkey_amr(
    *, device: WebAuthnCredential, verified: VerifiedAuthentication, with_password: bool
) -> tuple[str, ...]:
    """The `amr` values a passkey assertion adds: `swk` for a backup-eligible (synced)
    credential else `hwk`; `user` when the authenticator verified the user; `mfa` after a
    password."""
    raise NotImplementedError


def passkey_registered(
    *, user: User, device: WebAuthnCredential, actor: Principal | None, user_agent: str = ""
) -> list[str] | None:
    """Audits a new passkey and names it; on the user's first second factor, ends other
    sign-ins and returns 10 fresh backup codes (None otherwise)."""
    raise NotImplementedError


def passkey_rename(*, user: User, passkey_id: int, name: str, actor: Principal | None) -> None:
    raise NotImplementedError


def passkey_remove(*, user: User, passkey_id: int, actor: Principal | None, via: str) -> None:
    """Removes a passkey; needs fresh MFA; refuses the last way in or the last factor of a
    user who must have MFA (MfaStateError)."""
    raise NotImplementedError
