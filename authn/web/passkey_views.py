"""Passkey ceremonies in the browser: a sign-in without a password, a passkey as the second
factor after a password, and registering one on the security page.

Each ceremony is a pair of JSON endpoints (begin: the options and a challenge; complete: the
browser's answer), driven by django-otp-webauthn's script. Its views are not used: a sign-in
here goes through `auth_views._sign_in` (session proof, `amr`, `login.succeeded`), under the
lockout and throttles of every other sign-in. Errors are `application/json`
`{detail, code, status, title}`, the shape the script reads; CSRF is enforced.

A challenge lives in the session under one key per purpose, is taken out (and the session
saved) before the answer is checked, so it verifies at most once, and expires after
OTP_WEBAUTHN_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import logging
import time
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.contrib.auth import update_session_auth_hash
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django_otp_webauthn import exceptions
from django_otp_webauthn.models import WebAuthnCredential
from django_otp_webauthn.utils import rewrite_exceptions
from django_otp_webauthn.views import BaseWebAuthnView
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import WebAuthnException

from accounts.models import User
from audit.services import audit_record
from authn import lockout
from authn.mfa.passkeys import (
    ChallengeExpired,
    PasskeyCloned,
    passkey_amr,
    passkey_registered,
)
from authn.mfa.services import (
    MfaThrottled,
    mfa_attempt_begin,
    mfa_attempt_succeeded,
    mfa_failure_record,
    user_has_mfa,
)
from authn.web.auth_views import (
    PENDING_NEXT_KEY,
    _safe_next,
    _sign_in,
    pending_sign_in,
    pending_user,
)
from authn.web.passkey_pages import passkeys_enabled, passwordless_enabled
from authn.web.user_agents import browser_description
from authn.web.views import dashboard_principal
from micro_platform.counters import counter_incr
from micro_platform.http import client_ip
from micro_platform.parsers import reject_lone_surrogates
from micro_platform.sign_in import RecentSignInRequired, require_recent_sign_in

logger = logging.getLogger("micro.auth")

STATE_KEY = "micro_passkey_state_{purpose}"
BEGIN_WINDOW_SECONDS = 60


class PasskeyApiError(exceptions.OTPWebAuthnApiError):
    """A refusal with its status, code and (for 429) the seconds to wait."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(detail=detail, code=code)
        self.status_code = status
        self.retry_after = retry_after


def _not_found() -> PasskeyApiError:
    return PasskeyApiError(404, "not_found", "Not found.")


def _too_many(retry_after: int) -> PasskeyApiError:
    return PasskeyApiError(
        429,
        "too_many_attempts",
        "Too many attempts. Try again later.",
        retry_after=max(1, int(retry_after)),
    )


def _unprocessable(code: str = "invalid_json_structure") -> PasskeyApiError:
    return PasskeyApiError(422, code, "There is a problem with the provided JSON data.")


# The reason a refused assertion is audited under (`login.failed` / `mfa.failed`).
_FAILURE_REASONS: dict[type[Exception], str] = {
    exceptions.CredentialNotFound: "unknown_credential",
    exceptions.CredentialDisabled: "credential_disabled",
    PasskeyCloned: "credential_disabled",
}


def _failure_reason(exc: Exception) -> str:
    return _FAILURE_REASONS.get(type(exc), "invalid_assertion")


def _state_put(
    request: HttpRequest, purpose: str, state: dict[str, Any], user: User | None
) -> None:
    request.session[STATE_KEY.format(purpose=purpose)] = {
        **state,
        "purpose": purpose,
        "issued_at": int(time.time()),
        "user": str(user.pk) if user is not None else None,
    }


def _state_take(request: HttpRequest, purpose: str, user: User | None) -> dict[str, Any]:
    """The challenge of this purpose (for `user`), removed from the session for good before
    anything else looks at it; refused when missing, of another purpose or user, used
    already, or old.

    Taking it out of the session is not enough alone: requests sent at once each read the
    session before either saved it. An atomic counter per challenge lets only the first of
    them through (else one assertion would sign in twice, or the second would pass for a
    copied passkey and disable it)."""
    state = request.session.pop(STATE_KEY.format(purpose=purpose), None)
    if state is not None:
        request.session.save()
    if not isinstance(state, dict) or state.get("purpose") != purpose:
        raise exceptions.InvalidState()
    if state.get("user") != (str(user.pk) if user is not None else None):
        raise exceptions.InvalidState()
    challenge = state.get("challenge")
    timeout = settings.OTP_WEBAUTHN_TIMEOUT_SECONDS
    if (
        not isinstance(challenge, str)
        or counter_incr(f"passkey:challenge:{challenge}", timeout) > 1
    ):
        raise exceptions.InvalidState()
    issued_at = state.get("issued_at")
    age = time.time() - issued_at if isinstance(issued_at, int) else None
    if age is None or not 0 <= age <= settings.OTP_WEBAUTHN_TIMEOUT_SECONDS:
        raise ChallengeExpired()
    return state


def _error_response(exc: exceptions.OTPWebAuthnApiError) -> JsonResponse:
    status = exc.status_code
    if isinstance(exc, exceptions.MalformedRequest):
        status = 422
    body = {
        "detail": str(exc),
        "code": exc.code,
        "status": status,
        "title": HTTPStatus(status).phrase,
    }
    response = JsonResponse(body, status=status)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        response["Retry-After"] = str(retry_after)
    return response


@method_decorator(never_cache, name="dispatch")
class PasskeyView(BaseWebAuthnView):
    """POST only; 404 while passkeys are off; refusals as JSON, never a 5xx for bad input."""

    http_method_names = ["post"]

    def handle_exception(self, exc: Exception) -> HttpResponse:
        if isinstance(exc, exceptions.OTPWebAuthnApiError):
            return _error_response(exc)
        raise exc

    def initial(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        if not passkeys_enabled():
            raise _not_found()

    def _parse_request_data(self, request: HttpRequest) -> Any:
        # A body that is not UTF-8, JSON nested deeper than the decoder goes, or strings that
        # are not Unicode text (lone surrogates) are malformed (422), as the API's parser
        # refuses them, not a 500.
        try:
            return reject_lone_surrogates(super()._parse_request_data(request))
        except (ValueError, RecursionError) as exc:
            raise exceptions.MalformedRequest() from exc

    def helper(self) -> Any:
        return WebAuthnCredential.get_webauthn_helper(request=self.request)

    def answer(self) -> dict[str, Any]:
        """The browser's answer: a JSON object, else 422."""
        data = getattr(self.request, "data", None)
        if not isinstance(data, dict):
            raise _unprocessable()
        return data

    def verify(self, call: Any) -> Any:
        """Runs a ceremony's check: a malformed or refused answer is a 422 (a copied passkey,
        now disabled, a 403; a passkey registered already a 409), never a 5xx."""
        try:
            with rewrite_exceptions():
                return call()
        except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
            raise _unprocessable("invalid_response") from exc


class LoginBeginView(PasskeyView):
    """Options for a sign-in without a password: any discoverable passkey, user verification
    required. Limited per IP address, since every sign-in page view begins one."""

    def initial(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        if not passwordless_enabled():
            raise _not_found()

    def post(self, request: HttpRequest) -> HttpResponse:
        ip_address = client_ip(request) or "unknown"
        window = int(time.time()) // BEGIN_WINDOW_SECONDS
        key = f"passkey:begin:{ip_address}:{window}"
        if counter_incr(key, BEGIN_WINDOW_SECONDS) > settings.MICRO_PASSKEY_BEGINS_PER_IP:
            raise _too_many((window + 1) * BEGIN_WINDOW_SECONDS - int(time.time()))
        options, state = self.helper().authenticate_begin(user=None, require_user_verification=True)
        _state_put(request, "login", state, None)
        return JsonResponse(options)


class LoginCompleteView(PasskeyView):
    """Signs in with a discoverable passkey that verified its user: the IP throttle and, for
    a known credential, its account's lockout apply as to a password."""

    def initial(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        if not passwordless_enabled():
            raise _not_found()

    def post(self, request: HttpRequest) -> HttpResponse:
        ip_address = client_ip(request)
        wait = lockout.ip_wait(ip_address=ip_address)
        if wait:
            raise _too_many(wait)
        state = _state_take(request, "login", None)
        data = self.answer()
        owner = self._owner(data)
        attempt = self._attempt_begin(owner, ip_address)
        try:
            device, verified = self.verify(
                lambda: self.helper().authenticate_complete(user=None, state=state, data=data)
            )
            if not device.user.is_active:
                raise exceptions.UserDisabled()
        except exceptions.OTPWebAuthnApiError as exc:
            self._failed(exc, owner, attempt, ip_address)
            raise
        if owner is not None:
            lockout.success_record(login=_lockout_subject(owner))
        request.session[PENDING_NEXT_KEY] = _safe_next(request, request.GET.get("next"))
        amr = passkey_amr(device=device, verified=verified, with_password=False)
        response = _sign_in(request, device.user, device, amr=(), second=amr)
        return JsonResponse({"id": device.pk, "redirect_url": response.url})

    @staticmethod
    def _owner(data: dict[str, Any]) -> User | None:
        """The account of the credential the answer names, when one is registered."""
        try:
            raw_id = parse_authentication_credential_json(data).raw_id
        except (WebAuthnException, ValueError, TypeError) as exc:
            raise _unprocessable() from exc
        try:
            return WebAuthnCredential.get_by_credential_id(raw_id).user
        except WebAuthnCredential.DoesNotExist:
            return None

    @staticmethod
    def _attempt_begin(owner: User | None, ip: str | None) -> int:
        """Counts the attempt on the owner's account before the answer is checked; a locked
        account is refused (429) as for a password."""
        if owner is None:
            return 0
        subject = _lockout_subject(owner)
        wait = lockout.account_wait(login=subject)
        if wait:
            raise _too_many(wait)
        attempt = lockout.attempt_begin(login=subject)
        if lockout.over_threshold(attempt):  # concurrent attempts raced past the lock
            if lockout.lock(login=subject):
                _audit(type="login.locked", owner=owner, ip=ip, data={"method": "passkey"})
            raise _too_many(lockout.account_wait(login=subject))
        return attempt

    @staticmethod
    def _failed(exc: Exception, owner: User | None, attempt: int, ip: str | None) -> None:
        reason = _failure_reason(exc)
        if owner is None:
            lockout.ip_failure_record(ip_address=ip)
            locked = False
        else:
            subject = _lockout_subject(owner)
            locked = lockout.failure_record(login=subject, ip_address=ip, count=attempt)
        _audit(
            type="login.failed", owner=owner, ip=ip, data={"method": "passkey", "reason": reason}
        )
        logger.info("login.failed method=passkey ip=%s reason=%s", ip, reason)
        if locked:
            _audit(type="login.locked", owner=owner, ip=ip, data={"method": "passkey"})
            logger.warning("login.locked method=passkey ip=%s", ip)


def _lockout_subject(user: User) -> str:
    return lockout.lockout_subject(login=user.username, user_id=user.pk)


def _audit(*, type: str, owner: User | None, ip: str | None, data: dict[str, str]) -> None:
    with transaction.atomic():
        audit_record(
            type=type,
            actor=None,
            subject_type="user" if owner is not None else "",
            subject_id=owner.pk if owner is not None else "",
            ip_address=ip,
            data=data,
        )


class VerifyBeginView(PasskeyView):
    """Options for the second factor of the user who just passed the password (or provider)
    step: one of their passkeys, user verification preferred."""

    def post(self, request: HttpRequest) -> HttpResponse:
        user = _pending_or_refuse(request)
        options, state = self.helper().authenticate_begin(
            user=user, require_user_verification=False
        )
        _state_put(request, "verify", state, user)
        return JsonResponse(options)


class VerifyCompleteView(PasskeyView):
    """Completes the pending sign-in with one of the user's passkeys. Failures count against
    the same budget as wrong codes (429 past it) and are audited as `mfa.failed`."""

    def post(self, request: HttpRequest) -> HttpResponse:
        user = _pending_or_refuse(request)
        try:
            mfa_attempt_begin(user)
        except MfaThrottled as exc:
            raise _too_many(exc.retry_after) from exc
        state = _state_take(request, "verify", user)
        data = self.answer()
        try:
            device, verified = self.verify(
                lambda: self.helper().authenticate_complete(user=user, state=state, data=data)
            )
        except exceptions.OTPWebAuthnApiError as exc:
            mfa_failure_record(
                user, client_ip(request), device="passkey", reason=_failure_reason(exc)
            )
            raise
        mfa_attempt_succeeded(user)
        amr = passkey_amr(device=device, verified=verified, with_password=True)
        response = pending_sign_in(request, user, device, second=amr)
        return JsonResponse({"id": device.pk, "redirect_url": response.url})


def _pending_or_refuse(request: HttpRequest) -> User:
    user = pending_user(request)
    if user is None:
        raise exceptions.NotAuthenticated(detail="Sign in with your password first.")
    return user


class RegisterView(PasskeyView):
    """Registering needs the session's own recent sign-in, and, for a user who already has a
    second factor, a session that passed it (so a stolen password cannot add a passkey)."""

    def initial(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        user = request.user
        if not isinstance(user, User):
            raise exceptions.NotAuthenticated()
        try:
            require_recent_sign_in(actor=dashboard_principal(request))
        except RecentSignInRequired as exc:
            raise PasskeyApiError(403, "recent_sign_in_required", str(exc)) from exc
        # Any enabled factor (not backup codes alone, nor a passkey disabled as a copy, which
        # could not pass the sign-in's code step) must have been passed in this session.
        if user_has_mfa(user=user) and not user.is_verified():  # type: ignore[attr-defined]
            raise exceptions.NotVerified(
                detail="Sign in again with your second factor to add a passkey."
            )


class RegisterBeginView(RegisterView):
    def post(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        assert isinstance(user, User)  # noqa: S101 - checked in initial()
        options, state = self.helper().register_begin(user=user)
        _state_put(request, "register", state, user)
        return JsonResponse(options)


class RegisterCompleteView(RegisterView):
    """Saves the passkey; on the user's first second factor the answer carries the new backup
    codes (shown once) and every other sign-in of the user has ended."""

    def post(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        assert isinstance(user, User)  # noqa: S101 - checked in initial()
        state = _state_take(request, "register", user)
        data = self.answer()
        # The passkey and what it brings (its audit event, backup codes, the end of other
        # sign-ins) commit together, or neither does.
        with transaction.atomic():
            device = self.verify(
                lambda: self.helper().register_complete(user=user, state=state, data=data)
            )
            codes = passkey_registered(
                user=user,
                device=device,
                actor=dashboard_principal(request),
                browser=browser_description(request.headers.get("User-Agent", "")),
            )
        body: dict[str, Any] = {"id": device.pk}
        if codes:
            user.refresh_from_db()
            update_session_auth_hash(request, user)  # the other sign-ins ended; keep this one
            body["backup_codes"] = codes
        return JsonResponse(body)
