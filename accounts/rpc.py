"""The Micro-compatible RPC facade `/user/<method>`.

Each method is a thin adapter over the same serializers, services and authorization rules as
the REST API. The body is read as JSON whatever the Content-Type, because the Micro gateway
style is `curl -X GET .../user/read -d '{"id": "..."}'` (curl labels that body as a form).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import (
    NotAuthenticated,
    NotFound,
    ParseError,
    PermissionDenied,
    Throttled,
    ValidationError,
)
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import email_flows, selectors, services
from accounts.apis import (
    conflict_error,
    get_user_or_404,
    render_user,
    update_user_as,
)
from accounts.models import EMAIL_MAX_LENGTH, USERNAME_MAX_LENGTH, User
from accounts.serializers import UserCreateIn, UserPrivateOut
from authn.services import sessions
from authn.services.recent_sign_in import require_personal_sign_in
from authn.services.sign_in import SignInThrottled
from authn.sign_in_errors import SIGN_IN_FAILURES, sign_in_problem
from micro_platform import scopes as sc
from micro_platform.errors import validation_problem
from micro_platform.http import client_ip
from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from micro_platform.openapi import problem
from micro_platform.parsers import BoundedJSONParser
from permissions.drf import AnyScope, Requirement, insufficient_scope_detail, principal_meets

Handler = Callable[[Request, dict[str, Any]], dict[str, Any]]
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
    principal = _caller(request)
    serializer = UserCreateIn(data=body)
    serializer.is_valid(raise_exception=True)
    try:
        user = services.user_create(actor=principal, **serializer.validated_data)
    except DjangoValidationError as exc:
        raise validation_problem(exc, "password") from exc
    except services.Conflict as exc:
        raise conflict_error(exc) from exc
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
        raise validation_problem(exc, "newPassword") from exc
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
        raise ValidationError(
            {"token": ["Invalid or expired verification token."]}, code="invalid_token"
        ) from exc
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
        raise ValidationError(
            {"token": ["Invalid or expired reset token."]}, code="invalid_token"
        ) from exc
    except DjangoValidationError as exc:
        raise validation_problem(exc, "password") from exc
    return {}


@dataclass(frozen=True, slots=True)
class RpcMethod:
    """One RPC method. `required_scopes` is checked before the handler runs, like a REST
    view's; None marks a method any caller may use, anonymous included, because its body
    carries the credential (a password, a session id, an emailed token) or it discloses
    nothing. `changes_nothing` methods may be called with GET by a cookie-authenticated
    caller; every other one changes state or opens or ends a session."""

    handler: Handler
    required_scopes: Requirement | None
    changes_nothing: bool = False


# Deny by default: a method is callable only through this table, and each entry states its
# scopes or that it is anonymous.
RPC_METHODS: dict[str, RpcMethod] = {
    "read": RpcMethod(rpc_read, (sc.USERS_READ,), changes_nothing=True),
    "create": RpcMethod(rpc_create, (sc.USERS_WRITE,)),
    # The caller's own account (`profile`) or anyone's (`users:write`), as PATCH /users/{id}.
    "update": RpcMethod(rpc_update, AnyScope(sc.PROFILE, sc.USERS_WRITE)),
    "delete": RpcMethod(rpc_delete, (sc.USERS_WRITE,)),
    "list": RpcMethod(rpc_list, (sc.USERS_WRITE,), changes_nothing=True),
    "login": RpcMethod(rpc_login, None),
    "logout": RpcMethod(rpc_logout, None),
    "readsession": RpcMethod(rpc_read_session, None, changes_nothing=True),
    "updatepassword": RpcMethod(rpc_update_password, (sc.PROFILE,)),
    "verifytoken": RpcMethod(rpc_verify_token, None, changes_nothing=True),
    "sendverificationemail": RpcMethod(rpc_send_verification_email, None),
    "verifyemail": RpcMethod(rpc_verify_email, None),
    "sendpasswordresetemail": RpcMethod(rpc_send_password_reset_email, None),
    "resetpassword": RpcMethod(rpc_reset_password, None),
}


def check_rpc_scopes(request: Request, entry: RpcMethod) -> None:
    """Refuses a method with scopes to an anonymous caller (401) or to a credential without
    them (403 `insufficient_scope`), before its handler runs."""
    if entry.required_scopes is None:
        return
    principal = request.user
    if not isinstance(principal, Principal):
        raise NotAuthenticated()
    if not principal_meets(principal, entry.required_scopes):
        raise PermissionDenied(
            insufficient_scope_detail(principal, entry.required_scopes), code="insufficient_scope"
        )


def parse_body(request: Request) -> dict[str, Any]:
    raw = request._request.body
    if not raw.strip():
        # Never from the query string: it would put passwords and session ids in access logs,
        # and let a cross-site link (no body possible) drive a signed-in browser.
        return {}
    try:
        # The API's own parser: strict JSON, bounded depth, text only (no lone surrogates).
        body = BoundedJSONParser().parse(io.BytesIO(raw))
    except ParseError as exc:
        raise ValidationError(
            {"body": ["The body must be a JSON object."]}, code="parse_error"
        ) from exc
    if not isinstance(body, dict):
        raise ValidationError({"body": ["The body must be a JSON object."]}, code="parse_error")
    return body


METHOD_PARAMETER = OpenApiParameter("method", str, OpenApiParameter.PATH, enum=sorted(RPC_METHODS))
RPC_RESPONSES = {
    200: dict,
    400: problem("Invalid body or arguments."),
    401: problem("The method needs a credential and none valid was given."),
    403: problem("The credential may not call this method."),
    404: problem("Unknown method, or the user it names does not exist."),
}


class UserRpcApi(APIView):
    """Micro-style RPC: `GET|POST /user/<method>` with a JSON body; names are case-insensitive.

    Each method applies the REST API's rules, its scopes checked first (RPC_METHODS), a
    refusal naming the missing scope: `read` needs `users:read` (by email: `users:write`, or
    the caller's own address); `create`, `delete`,
    `list` need `users:write`; `update` needs self (+`profile`) or `users:write` (another
    user's email: `api_admin`); `updatePassword` needs self (+`profile`) from a person's own
    sign-in, its old password checked under the sign-in lockout; `login`, `logout`,
    `readSession`, `verifyToken` need no credential beyond the password or session id they
    carry (`login` also takes `otp` once the account has MFA, and shares the token
    endpoint's lockout and throttles);
    `sendVerificationEmail`, `verifyEmail`, `sendPasswordResetEmail`, `resetPassword` are
    anonymous (the emailed token is the credential) and answer alike whether or not an
    address has an account.
    """

    # Anonymous methods exist: the scopes of each method are checked from RPC_METHODS.
    permission_classes = [AllowAny]

    def _dispatch_rpc(self, request: Request, method: str) -> Response:
        entry = RPC_METHODS.get(method.lower())
        if entry is None:
            raise NotFound(f"Unknown method {method[:64]!r}.", code="unknown_method")
        check_rpc_scopes(request, entry)
        principal = request.user
        if (
            request.method != "POST"
            and not entry.changes_nothing
            and isinstance(principal, Principal)
            and principal.method == "session"
        ):
            # CSRF protection covers unsafe HTTP methods only, and GET and HEAD (answered by
            # `get`) are safe: a cookie-authenticated change must come as POST, with the CSRF
            # token. Bearer callers may use GET, Micro-style.
            raise PermissionDenied(
                "With the session cookie, this method must be called with POST.",
                code="post_required",
            )
        return Response(entry.handler(request, parse_body(request)))

    @extend_schema(
        operation_id="user_rpc_get",
        parameters=[METHOD_PARAMETER],
        request=None,
        responses=RPC_RESPONSES,
    )
    def get(self, request: Request, method: str) -> Response:
        return self._dispatch_rpc(request, method)

    @extend_schema(
        operation_id="user_rpc_post",
        parameters=[METHOD_PARAMETER],
        request=dict,
        responses=RPC_RESPONSES,
    )
    def post(self, request: Request, method: str) -> Response:
        return self._dispatch_rpc(request, method)
