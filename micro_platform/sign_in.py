"""What any app may ask of a caller's sign-in: the rules for account-security changes (MFA,
email address, password, API keys), and the refusal of a throttled password check.

A leaked API key, an OAuth client's token or a token exchanged for a key proves a credential,
not the person: with one of them an attacker could enrol their own authenticator or move the
account's email address and reset the password. Such changes therefore need a principal from
a person's own sign-in (`pwd` in `amr`: the dashboard session or a password-grant token; a
passkey, `hwk` or `swk`; or `fed`: a dashboard session signed in at an identity provider) made
in the last 15 minutes; the operator's command line (no actor) is trusted like the database. A
fresh-MFA check needs a second factor passed here: a one-time code (`otp`), or a passkey after
a password or one that verified its user (`hwk`/`swk` with `pwd` or `user`), or, after a
federated sign-in, the MFA an MFA-enforcing provider vouched for (`mfa`, which the session
principal carries only then, or after a local second factor).
"""

from __future__ import annotations

import time

from django.core.exceptions import PermissionDenied
from rest_framework.exceptions import Throttled

from micro_platform.identity import FEDERATED, Principal

RECENT_SIGN_IN_SECONDS = 15 * 60
# A passkey sign-in (RFC 8176): a hardware-bound key, or a synced (software) one.
PASSKEY_AMR = ("hwk", "swk")
# Clocks of other instances may run a little ahead of ours.
_CLOCK_SKEW_SECONDS = 60


class SignInThrottled(Exception):
    """The account is locked or the client IP throttled; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


def too_many_attempts(*, retry_after: int) -> Throttled:
    """The API's 429 `too_many_attempts` for a throttled password or code check."""
    return Throttled(
        wait=retry_after,
        detail="Too many failed attempts; try again later.",
        code="too_many_attempts",
    )


class SignInRequired(PermissionDenied):
    """The action needs a person's own sign-in (`Principal.is_personal_sign_in`)."""

    code = "sign_in_required"


def require_personal_sign_in(*, actor: Principal | None, action: str) -> None:
    """Raises SignInRequired unless `actor` is None (operator) or a person's own sign-in.

    A machine credential (an API key or a token derived from one, a client-credentials
    token) or a third-party app acting for the user proves a credential, not the person.
    """
    if actor is None or actor.is_personal_sign_in:
        return
    raise SignInRequired(
        f"{action} needs your own sign-in (password, dashboard or the micro CLI), not an"
        " API key or an application's token."
    )


class RecentSignInRequired(PermissionDenied):
    """The change needs a password sign-in within the last 15 minutes."""

    code = "recent_sign_in_required"


class FreshMfaRequired(PermissionDenied):
    """The change needs a sign-in with MFA (a one-time code or a passkey) within the last 15
    minutes."""

    code = "fresh_mfa_required"


def signed_in_recently(principal: Principal, *, with_otp: bool = False) -> bool:
    """Whether `principal` comes from a person's own sign-in (with a second factor when
    `with_otp`) made in the last 15 minutes."""
    if principal.method not in ("session", "jwt"):
        return False
    federated = principal.method == "session" and FEDERATED in principal.amr
    if "pwd" not in principal.amr and not federated and not _passkey(principal):
        return False
    if with_otp and not _second_factor(principal, federated=federated):
        return False
    if principal.auth_time is None:
        return False
    age = time.time() - principal.auth_time
    return -_CLOCK_SKEW_SECONDS <= age <= RECENT_SIGN_IN_SECONDS


def _passkey(principal: Principal) -> bool:
    return any(value in principal.amr for value in PASSKEY_AMR)


def _second_factor(principal: Principal, *, federated: bool) -> bool:
    # A passkey is a second factor after a password, or on its own when the authenticator
    # verified its user (PIN or biometrics): possession plus that check. After a federated
    # sign-in, `mfa` is set on a session principal only for a local second factor or an
    # MFA-enforcing provider's say-so.
    amr = principal.amr
    if "otp" in amr or (federated and "mfa" in amr):
        return True
    return _passkey(principal) and ("pwd" in amr or "user" in amr)


def require_fresh_mfa(*, actor: Principal | None, message: str) -> None:
    """Raises FreshMfaRequired (with `message`) unless `actor` is None (operator) or signed in
    with a second factor (a one-time code or a passkey) in the last 15 minutes."""
    if actor is None or signed_in_recently(actor, with_otp=True):
        return
    raise FreshMfaRequired(message)


def require_recent_sign_in(*, actor: Principal | None) -> None:
    """Raises RecentSignInRequired unless `actor` is None (operator) or signed in recently."""
    if actor is None or signed_in_recently(actor):
        return
    raise RecentSignInRequired("Sign in again (within the last 15 minutes) to change this.")
