"""The OpenAPI description of the RPC facade: one operation per method (`POST /user/<name>`),
with the JSON body its handler reads (rpc.methods) and the body it answers.

These serializers only document; the handlers parse the body themselves. Their names are the
Micro ones (camelCase); the handlers also take the snake_case aliases, and a method called
with GET and a body, or under another letter case, behaves the same.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

from accounts.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH
from accounts.serializers import UserCreateIn, UserPrivateOut, UserUpdateAdminIn
from micro_platform.openapi import problem
from rpc.methods import MAX_LIST_LIMIT, OTP_MAX_LENGTH


def _text(max_length: int | None = None, **kwargs: Any) -> serializers.CharField:
    # A non-empty string, read as given (not trimmed); NUL is refused as everywhere.
    if max_length is not None:
        kwargs["max_length"] = max_length
    return serializers.CharField(trim_whitespace=False, **kwargs)


class RpcReadIn(serializers.Serializer):
    id = _text(required=False, help_text="The user's id.")
    username = _text(USERNAME_MAX_LENGTH, required=False)
    email = _text(
        EMAIL_MAX_LENGTH,
        required=False,
        help_text="`users:write`, or the caller's own address.",
    )

    schema_constraints = {"anyOf": [{"required": [name]} for name in ("id", "username", "email")]}


class RpcUpdateIn(UserUpdateAdminIn):
    id = _text(required=False, help_text="The user to change.")


class RpcDeleteIn(serializers.Serializer):
    id = _text(required=False, help_text="The user to deactivate.")


class RpcListIn(serializers.Serializer):
    offset = serializers.IntegerField(min_value=0, max_value=10_000_000, required=False)
    limit = serializers.IntegerField(
        min_value=0, max_value=MAX_LIST_LIMIT, required=False, help_text="0 means 25."
    )


class RpcLoginIn(serializers.Serializer):
    username = _text(EMAIL_MAX_LENGTH, help_text="The username or the email address.")
    password = _text(256)
    otp = _text(OTP_MAX_LENGTH, required=False, help_text="Once the account has MFA.")


class RpcSessionIn(serializers.Serializer):
    sessionId = _text(help_text="The session id `login` answered.")  # noqa: N815 - Micro's name


class RpcUpdatePasswordIn(serializers.Serializer):
    userId = _text(required=False, help_text="The caller's own id.")  # noqa: N815
    oldPassword = _text()  # noqa: N815
    newPassword = _text()  # noqa: N815


class RpcTokenIn(serializers.Serializer):
    token = _text()


class RpcEmailIn(serializers.Serializer):
    email = _text(EMAIL_MAX_LENGTH)


class RpcResetPasswordIn(serializers.Serializer):
    token = _text(help_text="The `<uidb64>.<token>` code of the reset email.")
    password = _text(help_text="The new password (the password policy applies).")


def _session(name: str, **kwargs: Any) -> Any:
    fields: dict[str, serializers.Field[Any, Any, Any, Any]] = {
        "id": serializers.CharField(),
        "userId": serializers.UUIDField(),
        "created": serializers.IntegerField(help_text="Unix time."),
        "expires": serializers.IntegerField(help_text="Unix time."),
    }
    return inline_serializer(name=name, fields=fields, **kwargs)


SESSION = _session("RpcSession")
EMPTY = inline_serializer(name="RpcEmpty", fields={})


def _out(name: str, **fields: Any) -> Any:
    return inline_serializer(name=name, fields=fields)


# Each method's body and answer (200); the errors every method may answer are RPC_ERRORS.
RPC_BODIES: dict[str, tuple[Any, Any]] = {
    "read": (RpcReadIn, _out("RpcUserOut", user=serializers.DictField())),
    "create": (UserCreateIn, _out("RpcCreatedOut", user=UserPrivateOut())),
    "update": (RpcUpdateIn, _out("RpcUpdatedOut", user=UserPrivateOut())),
    "delete": (RpcDeleteIn, EMPTY),
    "list": (RpcListIn, _out("RpcUsersOut", users=UserPrivateOut(many=True))),
    "login": (RpcLoginIn, _out("RpcLoginOut", session=SESSION)),
    "logout": (RpcSessionIn, EMPTY),
    "readsession": (RpcSessionIn, _out("RpcSessionOut", session=SESSION)),
    "updatepassword": (RpcUpdatePasswordIn, EMPTY),
    "verifytoken": (
        RpcTokenIn,
        _out(
            "RpcVerifyTokenOut",
            is_valid=serializers.BooleanField(),
            session=_session("RpcMaybeSession", allow_null=True),
            message=serializers.CharField(),
        ),
    ),
    "sendverificationemail": (RpcEmailIn, EMPTY),
    "verifyemail": (RpcTokenIn, EMPTY),
    "sendpasswordresetemail": (RpcEmailIn, EMPTY),
    "resetpassword": (RpcResetPasswordIn, EMPTY),
}

RPC_ERRORS: dict[int, OpenApiResponse] = {
    400: problem(
        "A body that is not a JSON object (the query string is not read), or arguments its"
        " schema refuses: missing, too long, malformed."
    ),
    401: problem("The method needs a credential and none valid was given (or `login` failed)."),
    403: problem(
        "The credential may not call this method or do what it asks (`insufficient_scope`,"
        " `sign_in_required`, `recent_sign_in_required`, `fresh_mfa_required`), a changing"
        " method called with GET and the session cookie (`post_required`), a password the"
        " policy refuses (`password_policy`) or a wrong current one (`wrong_password`), or an"
        " emailed token that is invalid or expired (`invalid_token`)."
    ),
    404: problem("The user or session it names does not exist."),
    409: problem("`unique`: the username or email address belongs to another account."),
    429: problem("Throttled or locked out; `Retry-After` says for how long."),
}
