"""The security page: TOTP enrolment, passkeys, backup codes, password change, sessions (one
by one or all at once), linked sign-ins (identity providers), sign-ins."""

from __future__ import annotations

import uuid
from base64 import b64encode
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.models import User
from accounts.services import user_password_change
from authn.credentials.services import logout_all
from authn.identity_providers.admin_selectors import external_identity_of_user
from authn.identity_providers.selectors import external_identities_of
from authn.identity_providers.services import LastSignInMethod, external_identity_unlink
from authn.mfa.passkeys import PasskeyNotFound, passkey_remove, passkey_rename, passkeys_of
from authn.mfa.services import (
    MfaCodeReused,
    MfaEnrolmentEnded,
    MfaInvalid,
    MfaStateError,
    MfaThrottled,
    backup_codes_regenerate,
    backup_codes_remaining,
    totp_begin,
    totp_confirm,
    totp_pending_enrolment,
    totp_remove,
    user_has_totp,
)
from authn.sessions.dashboard import dashboard_session_revoke
from authn.sessions.store import session_key_hash
from authn.web.auth_views import CODE_REUSED, throttled_response
from authn.web.forms import (
    PasskeyNameForm,
    PasswordChangeForm,
    SecurityOtpForm,
    SignOutEverywhereForm,
)
from authn.web.passkey_pages import passkey_context, passkeys_enabled
from authn.web.selectors import dashboard_sessions_of, sign_in_events_of
from authn.web.views import add_validation_errors, dashboard_principal, dashboard_user
from micro_platform.http import client_ip
from micro_platform.identity import Principal
from micro_platform.sign_in import (
    FreshMfaRequired,
    RecentSignInRequired,
    SignInThrottled,
    require_recent_sign_in,
)

BAD_CODE = "That code is not valid."
_AUTO_IDS = {"otp_form": "id_%s", "regenerate_form": "regenerate_%s", "remove_form": "remove_%s"}


def _security_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    user = dashboard_user(request)
    current = session_key_hash(request.session.session_key or "")
    context = {
        "has_totp": user_has_totp(user=user),
        "backup_codes_remaining": backup_codes_remaining(user=user),
        "otp_form": SecurityOtpForm(),
        "regenerate_form": SecurityOtpForm(auto_id="regenerate_%s"),
        "remove_form": SecurityOtpForm(auto_id="remove_%s"),
        "password_form": PasswordChangeForm(),
        "sessions": dashboard_sessions_of(user_id=user.pk),
        "current_session_hash": current,
        "events": sign_in_events_of(user_id=user.pk),
        "identities": external_identities_of(user=user),
        **_passkeys_context(request, user),
        **extra,
    }
    return render(request, "micro/security.html", context, status=status)


def _passkeys_context(request: HttpRequest, user: User) -> dict[str, Any]:
    """The passkeys card: nothing while passkeys are off."""
    if not passkeys_enabled():
        return {}
    return {
        "passkeys": passkeys_of(user=user),
        "passkey_name_form": PasskeyNameForm(auto_id="id_passkey_%s"),
        **passkey_context(request, purpose="register"),
    }


@never_cache
@login_required
@require_GET
def security_view(request: HttpRequest) -> HttpResponse:
    return _security_page(request)


@never_cache
@login_required
@require_POST
def totp_begin_view(request: HttpRequest) -> HttpResponse:
    """Starts an enrolment: the secret and QR code appear in this response only."""
    try:
        enrolment = totp_begin(user=dashboard_user(request), actor=dashboard_principal(request))
    except RecentSignInRequired:
        return sign_in_again(request)
    except MfaStateError as exc:
        messages.error(request, exc.message)
        return redirect("dashboard:security")
    return _security_page(request, enrolment=enrolment, qr_data_uri=qr_data_uri(enrolment.qr_svg))


def _pending_enrolment(user: User, actor: Principal) -> dict[str, Any]:
    """The page context showing the enrolment begun and not yet confirmed, if any; nothing
    unless `actor` passes the recent-sign-in rule."""
    try:
        enrolment = totp_pending_enrolment(user=user, actor=actor)
    except RecentSignInRequired:
        return {}
    if enrolment is None:
        return {}
    return {"enrolment": enrolment, "qr_data_uri": qr_data_uri(enrolment.qr_svg)}


def sign_in_again(request: HttpRequest) -> HttpResponse:
    """Back through the sign-in page, then here: MFA changes need a recent password sign-in."""
    messages.error(request, "For your security, sign in again to change two-factor authentication.")
    return redirect(f"/accounts/login/?next={reverse('dashboard:security')}")


def qr_data_uri(svg: str) -> str:
    """The QR code as an `<img>` source: no inline markup for the CSP or for an injection.

    An SVG loaded as an image needs its namespace, which inline SVG markup leaves out.
    """
    if "xmlns=" not in svg:
        svg = svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1)
    return "data:image/svg+xml;base64," + b64encode(svg.encode()).decode()


def _otp_step(
    request: HttpRequest,
    action: Any,
    slot: str,
    *,
    retry_extra: Callable[[], dict[str, Any]] = dict,
) -> Any:
    """Runs an MFA action needing a current code; returns its result or an error response.

    `slot` names the page's form that shows the errors; `retry_extra` gives more page
    context only after the action refused a wrong or reused code, never before it ran.
    """
    form = SecurityOtpForm(request.POST, auto_id=_AUTO_IDS[slot])
    if not form.is_valid():
        return _security_page(request, status=400, **{slot: form})
    try:
        return action(otp=form.cleaned_data["otp_token"])
    except RecentSignInRequired:
        return sign_in_again(request)
    except MfaThrottled as exc:
        return throttled_response(request, exc.retry_after)
    except MfaStateError as exc:
        form.add_error(None, exc.message)
        return _security_page(request, status=409, **{slot: form})
    except MfaEnrolmentEnded:
        return _security_page(request, status=400, enrolment_ended=True)
    except MfaCodeReused:
        form.add_error("otp_token", CODE_REUSED)
        return _security_page(request, status=400, **{slot: form}, **retry_extra())
    except (MfaInvalid, ValidationError):
        form.add_error("otp_token", BAD_CODE)
        return _security_page(request, status=400, **{slot: form}, **retry_extra())


@never_cache
@login_required
@require_POST
def totp_confirm_view(request: HttpRequest) -> HttpResponse:
    """Confirms the enrolment with a code; the backup codes are shown once. After a wrong
    code the same secret is shown again, until the enrolment's tries run out.

    A session past the recent-sign-in window is sent to sign in again before the form is
    read, so no answer to it (not even a form error) carries the pending secret."""
    user, actor = dashboard_user(request), dashboard_principal(request)
    try:
        require_recent_sign_in(actor=actor)
    except RecentSignInRequired:
        return sign_in_again(request)
    result = _otp_step(
        request,
        lambda otp: totp_confirm(user=user, otp=otp, actor=actor),
        "otp_form",
        retry_extra=lambda: _pending_enrolment(user, actor),
    )
    if isinstance(result, HttpResponse):
        return result
    user.refresh_from_db()
    update_session_auth_hash(request, user)  # enrolment ended every other session
    return _security_page(request, backup_codes=result)


@never_cache
@login_required
@require_POST
def backup_codes_view(request: HttpRequest) -> HttpResponse:
    """New backup codes: with a current code from the authenticator app, or (for a user whose
    second factors are passkeys) after a sign-in with a passkey in the last 15 minutes."""
    user, actor = dashboard_user(request), dashboard_principal(request)
    if "otp_token" not in request.POST and not user_has_totp(user=user):
        try:
            codes = backup_codes_regenerate(user=user, actor=actor)
        except (FreshMfaRequired, RecentSignInRequired):
            return sign_in_again(request)
        except MfaStateError as exc:
            messages.error(request, exc.message)
            return _security_page(request, status=409)
        return _security_page(request, backup_codes=codes)
    result = _otp_step(
        request,
        lambda otp: backup_codes_regenerate(user=user, otp=otp, actor=actor),
        "regenerate_form",
    )
    if isinstance(result, HttpResponse):
        return result
    return _security_page(request, backup_codes=result)


@never_cache
@login_required
@require_POST
def totp_remove_view(request: HttpRequest) -> HttpResponse:
    user, actor = dashboard_user(request), dashboard_principal(request)
    result = _otp_step(
        request, lambda otp: totp_remove(user=user, otp=otp, actor=actor), "remove_form"
    )
    if isinstance(result, HttpResponse):
        return result
    messages.success(request, "Two-factor authentication removed.")
    return redirect("dashboard:security")


@never_cache
@login_required
@require_POST
def password_change_view(request: HttpRequest) -> HttpResponse:
    """Needs the current password (checked under the sign-in lockout); ends every other
    session and keeps this one."""
    form = PasswordChangeForm(request.POST)
    if form.is_valid():
        user = dashboard_user(request)
        try:
            user_password_change(
                actor=dashboard_principal(request),
                user=user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
                ip_address=client_ip(request),
            )
        except SignInThrottled as exc:
            return throttled_response(request, exc.retry_after)
        except ValidationError as exc:
            add_validation_errors(form, exc, default_field="new_password")
        else:
            user.refresh_from_db()
            update_session_auth_hash(request, user)
            messages.success(request, "Password changed. Your other sessions were ended.")
            return redirect("dashboard:security")
    return _security_page(request, status=400, password_form=form)


@never_cache
@login_required
@require_POST
def session_revoke_view(request: HttpRequest, session_id: uuid.UUID) -> HttpResponse:
    revoked = dashboard_session_revoke(
        actor=dashboard_principal(request), session_id=session_id, ip_address=client_ip(request)
    )
    if not revoked:
        return _security_page(request, status=404)
    if not request.session.exists(request.session.session_key or ""):
        # The user ended the session they are using: finish the logout properly.
        logout(request)
        return redirect("/accounts/login/")
    messages.success(request, "Session ended.")
    return redirect("dashboard:security")


@never_cache
@login_required
@require_POST
def identity_unlink_view(request: HttpRequest, identity_id: uuid.UUID) -> HttpResponse:
    """Removes one of the user's own links to an identity provider; the last way to sign in
    (no password, no other link) is refused with the page and a message saying why."""
    user = dashboard_user(request)
    identity = external_identity_of_user(user_id=user.pk, identity_id=identity_id)
    if identity is None:
        return _security_page(request, status=404)
    try:
        external_identity_unlink(
            actor=dashboard_principal(request), identity=identity, via="dashboard"
        )
    except LastSignInMethod:
        messages.error(
            request,
            f"You cannot remove {identity.provider.display_name}: it is your only way to sign"
            " in. Set a password (Change password above, or a password reset) or link another"
            " provider first.",
        )
        return _security_page(request, status=409)
    messages.success(request, f"Sign-in with {identity.provider.display_name} removed.")
    return redirect("dashboard:security")


@never_cache
@login_required
@require_POST
def sign_out_everywhere_view(request: HttpRequest) -> HttpResponse:
    """Ends every sign-in of the user, this session included, as logout-all does; with the
    box ticked, every API key of the user too."""
    form = SignOutEverywhereForm(request.POST)
    revoke_keys = form.is_valid() and form.cleaned_data["api_keys"]
    logout_all(
        principal=dashboard_principal(request),
        ip_address=client_ip(request),
        api_keys=revoke_keys,
    )
    logout(request)
    return redirect("/accounts/login/")


PASSKEYS_URL = "/dashboard/security/#passkeys"


@never_cache
@login_required
@require_POST
def passkey_rename_view(request: HttpRequest, passkey_id: int) -> HttpResponse:
    """Renames one of the user's own passkeys (another's, or none, is a 404)."""
    if not passkeys_enabled():
        raise Http404
    form = PasskeyNameForm(request.POST, auto_id="id_passkey_%s")
    if not form.is_valid():
        return _security_page(request, status=400, passkey_name_form=form)
    try:
        passkey_rename(
            user=dashboard_user(request),
            passkey_id=passkey_id,
            name=form.cleaned_data["name"],
            actor=dashboard_principal(request),
        )
    except PasskeyNotFound:
        return _security_page(request, status=404)
    except RecentSignInRequired:
        return sign_in_again(request)
    except ValidationError as exc:
        add_validation_errors(form, exc, default_field="name")
        return _security_page(request, status=400, passkey_name_form=form)
    messages.success(request, "Passkey renamed.")
    return redirect(PASSKEYS_URL)


@never_cache
@login_required
@require_POST
def passkey_remove_view(request: HttpRequest, passkey_id: int) -> HttpResponse:
    """Removes one of the user's own passkeys: needs a second factor used in the last few
    minutes; the last way to sign in, or the last factor of a user who must have one, stays
    (409, with the reason)."""
    if not passkeys_enabled():
        raise Http404
    try:
        passkey_remove(
            user=dashboard_user(request),
            passkey_id=passkey_id,
            actor=dashboard_principal(request),
            via="dashboard",
        )
    except PasskeyNotFound:
        return _security_page(request, status=404)
    except (FreshMfaRequired, RecentSignInRequired):
        return sign_in_again(request)
    except MfaStateError as exc:
        messages.error(request, exc.message)
        return _security_page(request, status=409)
    messages.success(request, "Passkey removed.")
    return redirect(PASSKEYS_URL)
