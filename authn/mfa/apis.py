"""The caller's MFA: TOTP enrolment, confirmation, removal, backup codes; passkeys listed,
renamed and removed (registering one is a browser ceremony, on the dashboard)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import (
    APIException,
    NotAuthenticated,
    NotFound,
    Throttled,
    ValidationError,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from accounts.selectors import user_get
from authn.mfa import passkeys
from authn.mfa import services as mfa
from authn.mfa.serializers import (
    BackupCodesOut,
    MfaStatusOut,
    OtpIn,
    PasskeyUpdateIn,
    TotpEnrolmentOut,
)
from micro_platform import scopes as sc
from micro_platform.errors import Problem, validation_problem
from micro_platform.http import no_store, principal_of
from micro_platform.openapi import problem

_CONFLICT = problem("`mfa_already_enrolled`, `mfa_not_pending` or `mfa_not_enrolled`.")
_THROTTLED = problem("Too many wrong codes; see `Retry-After`.")
_BAD_CODE = problem("Invalid input, or `mfa_invalid` (wrong, used or expired code).")
_BAD_NAME = problem("Invalid input: a name of 1 to 64 printable characters.")
_NO_PASSKEY = problem("`passkey_not_found`: no passkey of yours has this id.")
_NOT_FRESH = problem(
    "`recent_sign_in_required` (rename), `fresh_mfa_required` (remove: a sign-in with a"
    " one-time code or a passkey in the last 15 minutes), or not your own sign-in."
)
_LAST_FACTOR = problem(
    "`last_sign_in_method` (the only way left to sign in) or `mfa_required` (the last second"
    " factor of an account that must keep one)."
)


def _user(request: Request) -> User:
    user = user_get(user_id=principal_of(request).user_id)
    if user is None:  # deleted after its token was issued
        raise NotAuthenticated()
    return user


def mfa_problem(exc: Exception) -> APIException:
    """Maps the MFA service's refusals to problems: 400, 409 or 429."""
    if isinstance(exc, mfa.MfaThrottled):
        return Throttled(wait=exc.retry_after, code="too_many_attempts")
    if isinstance(exc, mfa.MfaStateError):
        return Problem(status_code=409, code=exc.code, detail=exc.message)
    return ValidationError({"otp": [mfa_invalid_message(exc)]}, code="mfa_invalid")


def mfa_invalid_message(exc: Exception) -> str:
    """What was wrong with a refused code, under the one code `mfa_invalid`."""
    if isinstance(exc, mfa.MfaCodeReused):
        return "This code was already used; wait for the next code."
    if isinstance(exc, mfa.MfaEnrolmentEnded):
        return "The code is invalid; too many wrong codes ended the enrolment: start it again."
    return "The code is invalid."


MFA_FAILURES = (mfa.MfaThrottled, mfa.MfaStateError, mfa.MfaInvalid)


def _otp(request: Request) -> str:
    serializer = OtpIn(data=request.data)
    serializer.is_valid(raise_exception=True)
    return str(serializer.validated_data["otp"])


class MfaStatusApi(APIView):
    """The caller's second factors: TOTP, passkeys (no key material), whether any counts, and
    how many backup codes are left."""

    required_scopes = (sc.PROFILE,)

    @extend_schema(responses={200: MfaStatusOut})
    def get(self, request: Request) -> Response:
        user = _user(request)
        totp = mfa.user_has_totp(user=user)
        listed = passkeys.passkeys_of(user=user)
        data = {
            "totp": totp,
            "mfa": totp or any(passkey.confirmed for passkey in listed),
            "passkeys": listed,
            "backup_codes_remaining": mfa.backup_codes_remaining(user=user),
        }
        return Response(MfaStatusOut(data).data)


class PasskeyApi(APIView):
    """PATCH renames one of the caller's passkeys (`name`; without it, nothing changes); DELETE
    removes it (fresh MFA, never the last way in, nor the last factor of an account that must
    have MFA)."""

    required_scopes = (sc.PROFILE,)

    @extend_schema(
        request=PasskeyUpdateIn,
        responses={204: None, 400: _BAD_NAME, 403: _NOT_FRESH, 404: _NO_PASSKEY},
    )
    def patch(self, request: Request, passkey_id: int) -> Response:
        serializer = PasskeyUpdateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = _user(request)
        name = serializer.validated_data.get("name")
        try:
            if name is None:
                _owned_passkey(user, passkey_id)
            else:
                passkeys.passkey_rename(
                    user=user, passkey_id=passkey_id, name=name, actor=principal_of(request)
                )
        except passkeys.PasskeyNotFound as exc:
            raise _passkey_not_found() from exc
        except DjangoValidationError as exc:
            raise validation_problem(exc, "name") from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={204: None, 403: _NOT_FRESH, 404: _NO_PASSKEY, 409: _LAST_FACTOR},
    )
    def delete(self, request: Request, passkey_id: int) -> Response:
        try:
            passkeys.passkey_remove(
                user=_user(request), passkey_id=passkey_id, actor=principal_of(request), via="api"
            )
        except passkeys.PasskeyNotFound as exc:
            raise _passkey_not_found() from exc
        except mfa.MfaStateError as exc:
            raise mfa_problem(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


def _owned_passkey(user: User, passkey_id: int) -> None:
    """PasskeyNotFound unless the user has a passkey with this id."""
    if all(passkey.pk != passkey_id for passkey in passkeys.passkeys_of(user=user)):
        raise passkeys.PasskeyNotFound()


def _passkey_not_found() -> NotFound:
    # Another user's passkey is not found either: its existence is not the caller's to learn.
    return NotFound("No passkey of yours has this id.", code="passkey_not_found")


class TotpApi(APIView):
    """POST starts a TOTP enrolment (unconfirmed device); DELETE removes TOTP with a code."""

    required_scopes = (sc.PROFILE,)
    body_also_on = ("DELETE",)  # the code, as JSON: documented in the schema too

    @extend_schema(request=None, responses={201: TotpEnrolmentOut, 409: _CONFLICT})
    def post(self, request: Request) -> Response:
        principal = principal_of(request)
        try:
            enrolment = mfa.totp_begin(user=_user(request), actor=principal)
        except MFA_FAILURES as exc:
            raise mfa_problem(exc) from exc
        body = TotpEnrolmentOut(enrolment).data
        return no_store(Response(body, status=status.HTTP_201_CREATED))

    @extend_schema(
        request=OtpIn, responses={204: None, 400: _BAD_CODE, 409: _CONFLICT, 429: _THROTTLED}
    )
    def delete(self, request: Request) -> Response:
        otp = _otp(request)
        try:
            mfa.totp_remove(user=_user(request), otp=otp, actor=principal_of(request))
        except MFA_FAILURES as exc:
            raise mfa_problem(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


def _codes_response(codes: list[str], status_code: int) -> Response:
    data: dict[str, Any] = {"backup_codes": codes}
    return no_store(Response(BackupCodesOut(data).data, status=status_code))


class TotpConfirmApi(APIView):
    """Confirms the pending TOTP device with a current code; answers 10 backup codes."""

    required_scopes = (sc.PROFILE,)

    @extend_schema(
        request=OtpIn,
        responses={200: BackupCodesOut, 400: _BAD_CODE, 409: _CONFLICT, 429: _THROTTLED},
    )
    def post(self, request: Request) -> Response:
        otp = _otp(request)
        try:
            codes = mfa.totp_confirm(user=_user(request), otp=otp, actor=principal_of(request))
        except MFA_FAILURES as exc:
            raise mfa_problem(exc) from exc
        return _codes_response(codes, status.HTTP_200_OK)


class BackupCodesApi(APIView):
    """Replaces every backup code with 10 new ones; needs a current code."""

    required_scopes = (sc.PROFILE,)

    @extend_schema(
        request=OtpIn,
        responses={200: BackupCodesOut, 400: _BAD_CODE, 409: _CONFLICT, 429: _THROTTLED},
    )
    def post(self, request: Request) -> Response:
        otp = _otp(request)
        try:
            codes = mfa.backup_codes_regenerate(
                user=_user(request), otp=otp, actor=principal_of(request)
            )
        except MFA_FAILURES as exc:
            raise mfa_problem(exc) from exc
        return _codes_response(codes, status.HTTP_200_OK)
