"""The handlers of the Micro-compatible RPC methods (`/user/<method>`, rpc.apis).

Each is a thin adapter over the same serializers, services and authorization rules as the
REST API (accounts.api_rules); its scopes are checked before it runs, from rpc.apis.RPC_METHODS.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework.exceptions import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.request import Request

from accounts import email_flows, selectors, services
from accounts.api_rules import (
    create_user_as,
    get_user_or_404,
    password_problem,
    render_user,
    update_user_as,
)
from accounts.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, User
from accounts.serializers import UserPrivateOut
from authn.rpc_sessions import services as sessions
from authn.sign_in.errors import SIGN_IN_FAILURES, sign_in_problem
from micro_platform import scopes as sc
from micro_platform.errors import Problem, field_problem
from micro_platform.http import client_ip
from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from micro_platform.sign_in import SignInThrottled, require_personal_sign_in

MAX_LIST_LIMIT = 100
OTP_MAX_LENGTH = 64  # as the token endpoint's `otp`


def _caller(request: Request) -> Principal:
    """The calling principal of a method with scopes (the dispatcher has checked them)."""
    principal = request.user
    if not isinstance(principal, Principal):
        raise NotAuthenticated()
    return principal


def _string(body: dict[str, Any], *names: str, max_length: int | None = None) -> str | None:
    """The first non-empty string among `names`. Longer than `max_length` is a 400, never cut
    short: a truncated username or email could name a different user."""
    for name in names:
        value = body.get(name)
        if isinstance(value, str) and value:
            if "\x00" in value:  # as the REST serializers do; PostgreSQL rejects NUL in text
                raise ValidationError(
                    {name: ["Null characters are not allowed."]},
                    code="null_characters_not_allowed",
                )
            if max_length is not None and len(value) > max_length:
                raise ValidationError(
                    {name: [f"At most {max_length} characters."]}, code="max_length"
                )
            return value
    return None


def _session_out(view: sessions.SessionView) -> dict[str, Any]:
    return {
        "id": view.id,
        "userId": view.user_id,
        "created": int(view.created.timestamp()),
        "expires": int(view.expires.timestamp()),
    }


def rpc_read(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    principal = _caller(request)
    if (user_id := _string(body, "id")) is not None:
        user = get_user_or_404(user_id)
    elif (username := _string(body, "username", max_length=USERNAME_MAX_LENGTH)) is not None:
        user = selectors.user_get_by_username(username=username) or get_user_or_404(None)
    elif (email := _string(body, "email", max_length=EMAIL_MAX_LENGTH)) is not None:
        user = _read_by_email(principal, email)
    else:
        raise ValidationError({"id": [_read_hint(request)]}, code="required")
    return {"user": render_user(principal, user)}


def _read_by_email(principal: Principal, email: str) -> User:
    """Email is private: a lookup by it needs `users:write`, unless it is the caller's own.
    Without `users:write` any other address is refused alike (403) whether or not an account
    has it, so the refusal tells nothing about who is registered."""
    found = selectors.user_get_by_email(email=email)
    if principal.has_scope(sc.USERS_WRITE):
        if found is None:
            raise NotFound("No such user.", code="user_not_found")
        return found
    if found is None or not principal.is_self(found.pk):
        raise PermissionDenied(
            "A lookup by email needs users:write (or the caller's own address);"
            " look up by id or username instead.",
            code="insufficient_scope",
        )
    return found


READ_KEYS = ("id", "username", "email")


def _read_hint(request: Request) -> str:
    hint = 'Give one of id, username or email in the JSON body, e.g. {"id": "<uuid>"}.'
    if any(key in request.query_params for key in READ_KEYS):
        hint += " The query string is not read."
    return hint


def rpc_create(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    user = create_user_as(_caller(request), body)
    return {"user": UserPrivateOut(user).data}


def rpc_update(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    principal = _caller(request)
    fields = {key: value for key, value in body.items() if key != "id"}
    user = update_user_as(principal, get_user_or_404(body.get("id")), fields, client_ip(request))
    return {"user": UserPrivateOut(user).data}


def rpc_delete(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    principal = _caller(request)
    services.user_deactivate(actor=principal, user=get_user_or_404(body.get("id")))
    return {}


def _bounded_int(body: dict[str, Any], name: str, default: int, maximum: int) -> int:
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValidationError({name: [f"An integer from 0 to {maximum}."]}, code="invalid")
    return value


def rpc_list(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    offset = _bounded_int(body, "offset", 0, 10_000_000)
    limit = _bounded_int(body, "limit", 25, MAX_LIST_LIMIT) or 25
    users = selectors.users_all()[offset : offset + limit]
    return {"users": UserPrivateOut(users, many=True).data}


def rpc_login(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    login, password = _string(body, "username", "email"), _string(body, "password")
    if login is None or password is None:
        raise ValidationError({"password": ["username (or email) and password are required."]})
    if len(login) > EMAIL_MAX_LENGTH or len(password) > 256:
        raise ValidationError({"password": ["Too long."]}, code="max_length")
    otp = _string(body, "otp", max_length=OTP_MAX_LENGTH)
    try:
        view = sessions.session_login(
            username=login, password=password, ip_address=client_ip(request), otp=otp
        )
    except SIGN_IN_FAILURES as exc:
        raise sign_in_problem(exc) from exc
    return {"session": _session_out(view)}


def rpc_logout(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    secret = _string(body, "sessionId", "session_id")
    if secret is None:
        raise ValidationError({"sessionId": ["This field is required."]}, code="required")
    sessions.session_logout(secret=secret, ip_address=client_ip(request))
    return {}


def rpc_read_session(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    secret = _string(body, "sessionId", "session_id")
    if secret is None:
        raise ValidationError({"sessionId": ["This field is required."]}, code="required")
    session = sessions.session_get(secret=secret)
    if session is None:
        raise NotFound("No live session with this id.", code="session_not_found")
    return {"session": _session_out(sessions.session_view(session=session, secret=secret))}


def rpc_update_password(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    principal = _caller(request)
    require_personal_sign_in(actor=principal, action="Changing the password")
    user_id = _string(body, "userId", "user_id", "id")
    if user_id is not None and parse_uuid(user_id) != principal.user_id:
        raise PermissionDenied("A password can only be changed by its owner.")
    old, new = (
        _string(body, "oldPassword", "old_password"),
        _string(body, "newPassword", "new_password"),
    )
    confirm = _string(body, "confirmPassword", "confirm_password")
    if old is None or new is None:
        raise ValidationError({"newPassword": ["oldPassword and newPassword are required."]})
    if confirm is not None and confirm != new:
        raise ValidationError({"confirmPassword": ["Does not match newPassword."]})
    try:
        services.user_password_change(
            actor=principal,
            user=get_user_or_404(principal.user_id),
            old_password=old,
            new_password=new,
            ip_address=client_ip(request),
        )
    except DjangoValidationError as exc:
        raise password_problem(exc, "newPassword") from exc
    except SignInThrottled as exc:
        raise sign_in_problem(exc) from exc
    return {}


def rpc_verify_token(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    secret = _string(body, "token")
    if secret is None:
        raise ValidationError({"token": ["This field is required."]}, code="required")
    session = sessions.session_get(secret=secret)
    if session is None:
        return {"is_valid": False, "session": None, "message": "invalid or expired session"}
    view = sessions.session_view(session=session, secret=secret)
    return {"is_valid": True, "session": _session_out(view), "message": ""}


def invalid_token(detail: str) -> Problem:
    """A 403: the emailed token is the credential of these methods, and this one is invalid,
    used or expired (which tokens are live is the server's state, not the request's shape)."""
    return field_problem(status_code=403, code="invalid_token", errors={"token": [detail]})


def _throttled(exc: email_flows.RateLimited) -> Throttled:
    return Throttled(wait=exc.retry_after, detail="Too many requests; retry later.")


def _required(body: dict[str, Any], *names: str, max_length: int | None = None) -> str:
    value = _string(body, *names, max_length=max_length)
    if value is None:
        raise ValidationError({names[0]: ["This field is required."]}, code="required")
    return value


def rpc_send_verification_email(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    # Anonymous, and the same empty answer whether or not the address has an account. Micro's
    # subject/textContent/fromName are ignored: free text would make this an open mail relay.
    email = _required(body, "email", max_length=EMAIL_MAX_LENGTH)
    try:
        email_flows.email_verification_request(email=email, ip_address=client_ip(request))
    except email_flows.RateLimited as exc:
        raise _throttled(exc) from exc
    return {}


def rpc_verify_email(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    try:
        email_flows.email_verify(token=_required(body, "token"))
    except email_flows.InvalidToken as exc:
        raise invalid_token("Invalid or expired verification token.") from exc
    return {}


def rpc_send_password_reset_email(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    email = _required(body, "email", max_length=EMAIL_MAX_LENGTH)
    try:
        email_flows.password_reset_send(email=email, ip_address=client_ip(request))
    except email_flows.RateLimited as exc:
        raise _throttled(exc) from exc
    return {}


def rpc_reset_password(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    # `token`/`password`, or Micro's `code`/`newPassword`/`confirmPassword`; the code is the
    # `<uidb64>.<token>` pair from the reset email.
    code = _required(body, "token", "code")
    new = _required(body, "password", "newPassword", "new_password")
    confirm = _string(body, "confirmPassword", "confirm_password")
    if confirm is not None and confirm != new:
        raise ValidationError({"confirmPassword": ["Does not match the new password."]})
    try:
        uidb64, token = email_flows.split_reset_code(code)
        email_flows.password_reset_complete(
            uidb64=uidb64, token=token, new_password=new, ip_address=client_ip(request)
        )
    except email_flows.InvalidToken as exc:
        raise invalid_token("Invalid or expired reset token.") from exc
    except DjangoValidationError as exc:
        raise password_problem(exc, "password") from exc
    return {}
