"""Dashboard sign-in: a primary step (a password here, or a federated sign-in at an identity
provider), then (for users with a device) an OTP code, then the session.

Until the code passes, the user is not logged in: the session only remembers who passed the
primary step, how, and for a few minutes.
"""

from __future__ import annotations

import time

import django_otp
from django.conf import settings
from django.contrib.auth import login, logout
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods, require_POST
from django_otp.models import Device

from accounts.models import User
from accounts.selectors import user_get
from authn.federation.claims import Upstream
from authn.federation.services import federated_email_link, federated_groups_apply
from authn.identity_providers.selectors import identity_providers_enabled
from authn.mfa.services import (
    MfaCodeReused,
    MfaInvalid,
    MfaThrottled,
    mfa_verify,
    user_has_mfa,
)
from authn.sessions.proof import session_mark_signed_in
from authn.sign_in.services import (
    InvalidCredentials,
    password_check,
    sign_in_record,
)
from authn.web.forms import LoginForm, OtpForm
from authn.web.passkey_pages import passkey_context
from micro_platform.http import client_ip
from micro_platform.sign_in import SignInThrottled

PENDING_USER_KEY = "micro_pending_user"
PENDING_AT_KEY = "micro_pending_at"
PENDING_NEXT_KEY = "micro_pending_next"
# How the pending user passed the primary step: its `amr`, and the provider of a federated one.
PENDING_AMR_KEY = "micro_pending_amr"
PENDING_IDP_KEY = "micro_pending_idp"
PENDING_GROUPS_KEY = "micro_pending_groups"
# A federated sign-in matched to the account by verified email: the upstream to link on success.
PENDING_EMAIL_LINK_KEY = "micro_pending_email_link"
_PENDING_KEYS = (PENDING_USER_KEY, PENDING_AT_KEY, PENDING_AMR_KEY, PENDING_IDP_KEY)
# How long the primary step stays good for the OTP step.
PENDING_TTL_SECONDS = 300
BAD_CREDENTIALS = "Invalid username or password."
CODE_REUSED = "That code was just used. Wait for the next code from your app."
DEFAULT_NEXT = "/dashboard/"


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    """The `next` target when it stays on this site, else the dashboard (no open redirect)."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return DEFAULT_NEXT


def throttled_response(request: HttpRequest, retry_after: int) -> HttpResponse:
    response = render(request, "micro/throttled.html", {"retry_after": retry_after}, status=429)
    response["Retry-After"] = str(max(1, int(retry_after)))
    return response


def _sign_in(
    request: HttpRequest,
    user: User,
    device: Device | None,
    *,
    amr: tuple[str, ...] = ("pwd",),
    idp: str | None = None,
    fed_mfa: str | None = None,
    groups: tuple[str, ...] = (),
    link: Upstream | None = None,
    second: tuple[str, ...] | None = None,
) -> HttpResponseRedirect:
    """Logs the user in (new session id), records how, and audits `login.succeeded`.

    `amr` is the primary step's (empty for a passwordless passkey sign-in); when `device`
    passed, its values are added: `second` for a passkey (as `passkey_amr` gives them), else
    "otp" for a code. For a federated sign-in (`idp`), `fed_mfa` says which second factor
    counts, and the upstream `groups` add their mapped memberships, and a `link` by verified
    email is made, only now that it is complete. Any half-finished sign-in of the session is
    dropped, so its pending state cannot be completed later."""
    if device is not None:
        second = second or ("otp",)
        amr = (*amr, *second)
        fed_mfa = second[0]
    next_url = request.session.pop(PENDING_NEXT_KEY, None)
    pending_clear(request)
    with transaction.atomic():
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[0])
        if device is not None:
            django_otp.login(request, device)
        session_mark_signed_in(request.session, amr=amr, idp=idp, mfa=fed_mfa)
        data: dict[str, object] = {"amr": list(amr)}
        if idp is not None:
            data["idp"] = idp
        sign_in_record(
            user=user,
            method="federated" if idp is not None else "session",
            ip_address=client_ip(request),
            data=data,
        )
        if idp is not None and link is not None:
            federated_email_link(slug=idp, user=user, upstream=link)
        if idp is not None and groups:
            federated_groups_apply(slug=idp, user=user, groups=groups)
    return redirect(_safe_next(request, next_url))


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    """Password step; the same message for an unknown user and a wrong password."""
    form = LoginForm(request.POST if request.method == "POST" else None)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if form.is_valid():
        try:
            user = password_check(
                username=form.cleaned_data["username"],
                password=form.cleaned_data["password"],
                method="session",
                ip_address=client_ip(request),
            )
        except InvalidCredentials:
            form.add_error(None, BAD_CREDENTIALS)
        except SignInThrottled as exc:
            return throttled_response(request, exc.retry_after)
        else:
            return primary_step_passed(request, user, next_url=_safe_next(request, next_url))
    context = {
        "form": form,
        "next": next_url,
        "signup_open": settings.MICRO_SIGNUP_OPEN,
        "providers": identity_providers_enabled(),
        **passkey_context(request, purpose="login"),
    }
    return render(request, "micro/login.html", context, status=400 if form.errors else 200)


def primary_step_passed(
    request: HttpRequest,
    user: User,
    *,
    next_url: str,
    amr: tuple[str, ...] = ("pwd",),
    idp: str | None = None,
    mfa_proven: bool = False,
    groups: tuple[str, ...] = (),
    link: Upstream | None = None,
) -> HttpResponse:
    """After the password or a federated sign-in: signs the user in, or (when the user has a
    second factor here that `mfa_proven` does not stand in for) asks for the OTP code first.

    `mfa_proven`: an MFA-enforcing identity provider said its sign-in used a second factor.
    `link`: the upstream account to link to `user` (matched by verified email) on success.
    """
    request.session[PENDING_NEXT_KEY] = next_url
    if mfa_proven:
        return _sign_in(
            request, user, None, amr=amr, idp=idp, fed_mfa="mfa", groups=groups, link=link
        )
    if not user_has_mfa(user=user):
        return _sign_in(request, user, None, amr=amr, idp=idp, groups=groups, link=link)
    # A new session id before storing the half-signed-in state (no fixation of that state).
    request.session.cycle_key()
    request.session[PENDING_USER_KEY] = str(user.pk)
    request.session[PENDING_AT_KEY] = int(time.time())
    request.session[PENDING_AMR_KEY] = list(amr)
    request.session[PENDING_IDP_KEY] = idp
    request.session[PENDING_GROUPS_KEY] = list(groups)
    request.session[PENDING_EMAIL_LINK_KEY] = link.as_session() if link is not None else None
    return redirect("/accounts/login/otp/")


def pending_clear(request: HttpRequest) -> None:
    """Forgets the half-finished sign-in (the primary step's user, how, and what to link)."""
    for key in (*_PENDING_KEYS, PENDING_GROUPS_KEY, PENDING_EMAIL_LINK_KEY):
        request.session.pop(key, None)


def pending_user(request: HttpRequest) -> User | None:
    """The user who passed the password step in this session within the last few minutes."""
    started = request.session.get(PENDING_AT_KEY)
    if not isinstance(started, int) or time.time() - started > PENDING_TTL_SECONDS:
        return None
    user = user_get(user_id=request.session.get(PENDING_USER_KEY))
    return user if user is not None and user.is_active else None


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def login_otp_view(request: HttpRequest) -> HttpResponse:
    """OTP step: a TOTP or backup code for the pending user; only then the session logs in."""
    user = pending_user(request)
    if user is None:
        return redirect("/accounts/login/")
    form = OtpForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            device = mfa_verify(
                user=user, code=form.cleaned_data["otp_token"], ip_address=client_ip(request)
            )
        except MfaThrottled as exc:
            return throttled_response(request, exc.retry_after)
        except MfaCodeReused:
            form.add_error("otp_token", CODE_REUSED)
        except MfaInvalid:
            form.add_error("otp_token", "That code is not valid.")
        else:
            return pending_sign_in(request, user, device)
    context = {"form": form, **passkey_context(request, purpose="verify", user=user)}
    if "passkey_config" in context:
        # The passkey comes first: the code field, below it, does not take the focus (which
        # would open a phone's keyboard over the passkey button).
        form.fields["otp_token"].widget.attrs.pop("autofocus", None)
    return render(request, "micro/login_otp.html", context, status=400 if form.errors else 200)


def pending_sign_in(
    request: HttpRequest, user: User, device: Device, *, second: tuple[str, ...] | None = None
) -> HttpResponseRedirect:
    """Completes the pending sign-in of `user` now that `device` (a code, or a passkey whose
    `amr` values are `second`) passed: how the primary step went, its provider, groups and
    link come from the session."""
    amr = tuple(str(v) for v in request.session.get(PENDING_AMR_KEY) or ["pwd"])
    idp = request.session.get(PENDING_IDP_KEY)
    groups = tuple(str(g) for g in request.session.get(PENDING_GROUPS_KEY) or [])
    link = Upstream.from_session(request.session.get(PENDING_EMAIL_LINK_KEY))
    return _sign_in(
        request, user, device, amr=amr, idp=idp, groups=groups, link=link, second=second
    )


@require_POST
@csrf_protect
def logout_view(request: HttpRequest) -> HttpResponse:
    """Ends the session: the row is deleted, the old cookie is worthless."""
    logout(request)
    return redirect("/accounts/login/")
