"""The Micro-compatible RPC facade `/user/<method>`: a declarative table of method, scopes
and handler (RPC_METHODS), checked before any handler runs; a name not in it is a 404."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework.exceptions import NotFound, ParseError, PermissionDenied, ValidationError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from micro_platform import scopes as sc
from micro_platform.identity import Principal
from micro_platform.parsers import BoundedJSONParser
from micro_platform.scope_checks import (
    AnyScope,
    Requirement,
    answers,
    insufficient_scope_detail,
    principal_meets,
)
from rpc.methods import (
    rpc_create,
    rpc_delete,
    rpc_list,
    rpc_login,
    rpc_logout,
    rpc_read,
    rpc_read_session,
    rpc_reset_password,
    rpc_send_password_reset_email,
    rpc_send_verification_email,
    rpc_update,
    rpc_update_password,
    rpc_verify_email,
    rpc_verify_token,
)
from rpc.schema import RPC_BODIES, RPC_ERRORS

Handler = Callable[[Request, dict[str, Any]], dict[str, Any]]


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


def rpc_method(name: str) -> RpcMethod:
    """The table's entry for a method name (case-insensitive); 404 for any other name."""
    entry = RPC_METHODS.get(name.lower())
    if entry is None:
        raise NotFound(f"Unknown method {name[:64]!r}.", code="unknown_method")
    return entry


class RpcMethodScopes(BasePermission):
    """The REST API's scope rule applied per method: a method with scopes refuses an anonymous
    caller (401) or a credential without them (403 `insufficient_scope`, naming what it
    lacks) before its handler runs; a method the table marks anonymous admits anyone."""

    # Some methods are anonymous: the schema and the scope matrix treat the route as public
    # and document each method's rule in the view's description.
    admits_anonymous = True
    message = "The credential lacks a scope this method requires."
    code = "insufficient_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        if not answers(view, request.method or "GET"):
            return True  # the view answers 405 next, as a REST view does
        entry = rpc_method(str(view.kwargs.get("method", "")))
        if entry.required_scopes is None:
            return True
        principal = request.user
        if not isinstance(principal, Principal):
            return False
        if principal_meets(principal, entry.required_scopes):
            return True
        self.message = insufficient_scope_detail(principal, entry.required_scopes)
        return False


class JsonWhateverContentType(DefaultContentNegotiation):
    """The body is read as JSON whatever its Content-Type: the Micro gateway style is
    `curl -X GET .../user/read -d '{"id": "..."}'`, and curl labels that body as a form."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0]


class RpcBodyParser(BoundedJSONParser):
    """The API's own JSON parser (strict JSON, bounded depth, text only, UTF-8 whatever the
    Content-Type says); a blank body is {}."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read()
        if not raw.strip():
            return {}
        # Always UTF-8, as JSON is (RFC 8259): a charset in the Content-Type is not followed.
        return super().parse(io.BytesIO(raw), media_type, None)


def rpc_body(request: Request) -> dict[str, Any]:
    """The JSON object in the body; {} when there is none. Never from the query string: it
    would put passwords and session ids in access logs, and let a cross-site link (no body
    possible) drive a signed-in browser."""
    try:
        body = request.data
    except ParseError as exc:
        raise ValidationError(
            {"body": ["The body must be a JSON object."]}, code="parse_error"
        ) from exc
    if not isinstance(body, dict):
        raise ValidationError({"body": ["The body must be a JSON object."]}, code="parse_error")
    return body


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

    # Deny by default: RpcMethodScopes allows a call only as its RPC_METHODS entry says.
    permission_classes = [RpcMethodScopes]
    parser_classes = [RpcBodyParser]
    content_negotiation_class = JsonWhateverContentType

    def _dispatch_rpc(self, request: Request, method: str) -> Response:
        entry = rpc_method(method)
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
        return Response(entry.handler(request, rpc_body(request)))

    def get(self, request: Request, method: str) -> Response:
        return self._dispatch_rpc(request, method)

    def post(self, request: Request, method: str) -> Response:
        return self._dispatch_rpc(request, method)


class UserRpcAnyNameApi(UserRpcApi):
    """`/user/<method>` for any letter case of a name. The schema lists each method as its
    own operation (documented_method_view), so this route is not listed again."""

    schema = None


def _scopes_text(entry: RpcMethod) -> str:
    if entry.required_scopes is None:
        return "none: the body carries the credential, or the method discloses nothing"
    if isinstance(entry.required_scopes, AnyScope):
        return " or ".join(f"`{scope}`" for scope in entry.required_scopes.scopes)
    return ", ".join(f"`{scope}`" for scope in entry.required_scopes)


def documented_method_view(name: str) -> type[UserRpcApi]:
    """`POST /user/<name>` as its own documented operation: the method's body and answer
    (rpc.schema.RPC_BODIES) and its scopes; it dispatches exactly as `/user/<method>` does."""
    entry = RPC_METHODS[name]
    body, answer = RPC_BODIES[name]
    schema = extend_schema(
        operation_id=f"user_rpc_{name}",
        summary=f"RPC method `{name}`",
        description=f"**Method scopes:** {_scopes_text(entry)}. GET with the same body"
        " works for a bearer caller; the name is case-insensitive.",
        tags=["rpc"],
        request=body,
        responses={200: answer, **RPC_ERRORS},
    )
    get_schema = extend_schema(
        operation_id=f"user_rpc_{name}_get",
        summary=f"RPC method `{name}` (GET with a body)",
        description="As the POST operation, Micro-style: a body on GET, which browsers' `fetch`"
        " cannot send, and which a session-cookie caller may use only for methods that change"
        " nothing (else 403 `post_required`). Prefer POST.",
        deprecated=True,
        tags=["rpc"],
        request=body,
        responses={200: answer, **RPC_ERRORS},
    )
    attributes = {"__doc__": UserRpcApi.__doc__, "body_also_on": ("GET",)}
    view = type(f"UserRpc_{name}_Api", (UserRpcApi,), attributes)
    return extend_schema_view(get=get_schema, post=schema)(view)
