"""Sign-in refusals as API problems, shared by the token endpoint and the RPC `login`."""

from __future__ import annotations

from rest_framework.exceptions import APIException, AuthenticationFailed

from authn.mfa import services as mfa
from authn.sign_in import services as sign_in
from micro_platform.sign_in import SignInThrottled, too_many_attempts

SIGN_IN_FAILURES = (
    sign_in.InvalidCredentials,
    SignInThrottled,
    mfa.MfaRequired,
    mfa.MfaInvalid,
    mfa.MfaThrottled,
)


def sign_in_problem(exc: Exception) -> APIException:
    """401 `invalid_credentials` / `mfa_required` / `mfa_invalid`, or 429 with Retry-After."""
    if isinstance(exc, SignInThrottled | mfa.MfaThrottled):
        return too_many_attempts(retry_after=exc.retry_after)
    if isinstance(exc, mfa.MfaRequired):
        # A passkey-only account is told what it can give here (a backup code) or use instead.
        return AuthenticationFailed(exc.message, code="mfa_required")
    if isinstance(exc, mfa.MfaCodeReused):
        return AuthenticationFailed(
            "This one-time code was already used; wait for the next code.", code="mfa_invalid"
        )
    if isinstance(exc, mfa.MfaInvalid):
        return AuthenticationFailed("The one-time code is invalid.", code="mfa_invalid")
    return AuthenticationFailed("Invalid username or password.", code="invalid_credentials")
