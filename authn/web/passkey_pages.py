"""What the pages that offer passkeys give the browser script: whether to show the passkey UI,
and its configuration (the ceremony URLs and the CSRF token), read by the script from a
`json_script` element since the Content-Security-Policy allows no inline script."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware import csrf
from django.urls import reverse
from django_otp_webauthn.settings import app_settings

from accounts.models import User
from authn.mfa.services import user_has_passkey


def passkeys_enabled() -> bool:
    return bool(settings.MICRO_PASSKEYS_ENABLED)


def passwordless_enabled() -> bool:
    """Passkeys are on and may sign in without a password."""
    return passkeys_enabled() and bool(app_settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN)


def passkey_config(request: HttpRequest, *, purpose: str) -> dict[str, Any]:
    """The browser script's configuration for `purpose` ("login", "verify" or "register")."""
    begin = reverse(f"dashboard:passkey-{purpose}-begin")
    complete = reverse(f"dashboard:passkey-{purpose}-complete")
    registering = purpose == "register"
    return {
        # Conditional UI: the browser offers passkeys in the username field's autofill.
        "autocompleteLoginFieldSelector": "#id_username" if purpose == "login" else None,
        "nextFieldSelector": "input[name='next']",
        "csrfToken": csrf.get_token(request),
        "beginAuthenticationUrl": "" if registering else begin,
        "completeAuthenticationUrl": "" if registering else complete,
        "beginRegistrationUrl": begin if registering else "",
        "completeRegistrationUrl": complete if registering else "",
    }


def passkey_context(
    request: HttpRequest, *, purpose: str, user: User | None = None
) -> dict[str, Any]:
    """The page context for the passkey UI: empty (no UI) when passkeys are off, when
    passwordless sign-in is off on the sign-in page, or when the pending `user` of the
    second-factor page has no passkey."""
    if purpose == "login" and not passwordless_enabled():
        return {}
    if not passkeys_enabled():
        return {}
    if purpose == "verify" and (user is None or not user_has_passkey(user=user)):
        return {}
    return {"passkey_config": passkey_config(request, purpose=purpose)}
