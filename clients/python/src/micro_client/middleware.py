"""WSGI and ASGI middleware for services without Django REST framework: verify the caller's token
offline, put the principal in the request, answer refusals as RFC 9457 problem details.

    app = MicroWSGIMiddleware(require_scopes("billing:read")(app), verifier)
    principal = environ["micro.principal"]       # ASGI: scope["micro.principal"]

With a `TokenVerifier` the token is `Authorization: Bearer <access token>`; with an
`UpstreamTokenVerifier` (a service reachable only through the gateway) it is the gateway's
`X-User-Token` header. No token → 401 (or, with `optional=True`, the request goes on with
`None` as its principal); a refused token → 401 with `error="invalid_token"`; the issuer's
keys unavailable → 503; a principal lacking a scope `require_scopes` names → 403 with
`error="insufficient_scope"`. The same codes and messages as `micro_client.drf`. Standard
library only.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from .verifier import InvalidToken, KeysUnavailable, MicroPrincipal, TokenVerifier

PRINCIPAL_KEY = "micro.principal"
PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:micro:problem:"

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# The ASGI connections a caller opens with a credential: both are authenticated and scope-checked
# (a WebSocket route is no less protected than an HTTP one).
GUARDED_SCOPE_TYPES = frozenset({"http", "websocket"})
WS_POLICY_VIOLATION = 1008  # RFC 6455 7.4.1

_TITLES = {401: "Unauthorized", 403: "Forbidden", 503: "Service Unavailable"}


class Refusal(Exception):
    """A request refused with a problem: status, code, detail and its extra headers."""

    def __init__(
        self, status: int, code: str, detail: str, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, headers

    def body(self) -> bytes:
        problem = {
            "type": PROBLEM_TYPE_BASE + self.code,
            "title": _TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        return json.dumps(problem).encode()

    def response_headers(self, body: bytes) -> list[tuple[str, str]]:
        return [
            ("Content-Type", PROBLEM_CONTENT_TYPE),
            ("Content-Length", str(len(body))),
            ("Cache-Control", "no-store"),
            *self.headers,
        ]


def _challenge(verifier: TokenVerifier, error: str | None = None, **params: str) -> str:
    """The `WWW-Authenticate` value (RFC 6750 3): the scheme, the realm, the error if any."""
    scheme = "Gateway" if verifier.via_gateway else "Bearer"
    parts = ['realm="api"', *([f'error="{error}"'] if error else [])]
    parts += [f'{name}="{value}"' for name, value in params.items()]
    return f"{scheme} {', '.join(parts)}"


def authenticate(
    verifier: TokenVerifier, headers: dict[str, str], *, optional: bool = False
) -> MicroPrincipal | None:
    """The principal of the request whose (lower-cased) `headers` are given; raises Refusal.

    Shared by both middlewares, so a WSGI and an ASGI service refuse the same requests."""
    what = "upstream token" if verifier.via_gateway else "access token"
    token = _token(verifier, headers)
    if token is None:
        if optional:
            return None
        raise Refusal(
            401,
            "not_authenticated",
            f"An {what} is required.",
            (("WWW-Authenticate", _challenge(verifier)),),
        )
    try:
        return verifier.principal(token)
    except InvalidToken as exc:
        raise Refusal(
            401,
            "invalid_token",
            f"The {what} is invalid or expired.",
            (("WWW-Authenticate", _challenge(verifier, "invalid_token")),),
        ) from exc
    except KeysUnavailable as exc:
        raise Refusal(
            503,
            "signing_keys_unavailable",
            "The token issuer's signing keys are unavailable; try again later.",
            (("Retry-After", "30"),),
        ) from exc


def _token(verifier: TokenVerifier, headers: dict[str, str]) -> str | None:
    """The token the verifier's kind travels in; an empty or malformed header is a bad token."""
    if verifier.via_gateway:
        return headers.get("x-user-token")
    authorization = headers.get("authorization")
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip()


def check_scopes(principal: MicroPrincipal | None, scopes: tuple[str, ...]) -> None:
    """Raises Refusal unless `principal` holds every scope (`api_admin` implying Micro's own)."""
    if principal is None:
        raise Refusal(
            401,
            "not_authenticated",
            "Authentication credentials were not provided.",
            (("WWW-Authenticate", 'Bearer realm="api"'),),
        )
    missing = [scope for scope in scopes if not principal.has_scope(scope)]
    if missing:
        challenge = f'Bearer realm="api", error="insufficient_scope", scope="{" ".join(scopes)}"'
        raise Refusal(
            403,
            "insufficient_scope",
            f"The credential lacks: {' '.join(missing)}.",
            (("WWW-Authenticate", challenge),),
        )


def _wsgi_headers(environ: dict[str, Any]) -> dict[str, str]:
    return {
        name[5:].replace("_", "-").lower(): str(value)
        for name, value in environ.items()
        if name.startswith("HTTP_")
    }


def _wsgi_refuse(refusal: Refusal, start_response: StartResponse) -> list[bytes]:
    body = refusal.body()
    start_response(f"{refusal.status} {_TITLES[refusal.status]}", refusal.response_headers(body))
    return [body]


class MicroWSGIMiddleware:
    """Verifies each request's token before `app` runs; `environ["micro.principal"]` is the
    verified `MicroPrincipal` (None only with `optional=True` and no token)."""

    def __init__(self, app: WsgiApp, verifier: TokenVerifier, *, optional: bool = False) -> None:
        self.app, self.verifier, self.optional = app, verifier, optional

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            principal = authenticate(self.verifier, _wsgi_headers(environ), optional=self.optional)
        except Refusal as refusal:
            return _wsgi_refuse(refusal, start_response)
        environ[PRINCIPAL_KEY] = principal
        return self.app(environ, start_response)


class MicroASGIMiddleware:
    """Verifies the token of each HTTP request and WebSocket handshake before `app` runs;
    `scope["micro.principal"]` is the verified `MicroPrincipal`. A refused handshake is closed
    before it is accepted (the server answers 403). Lifespan events pass through untouched."""

    def __init__(self, app: AsgiApp, verifier: TokenVerifier, *, optional: bool = False) -> None:
        self.app, self.verifier, self.optional = app, verifier, optional

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") not in GUARDED_SCOPE_TYPES:
            await self.app(scope, receive, send)
            return
        try:
            principal = authenticate(self.verifier, _asgi_headers(scope), optional=self.optional)
        except Refusal as refusal:
            await _asgi_refuse(refusal, scope, send)
            return
        scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)


def _asgi_headers(scope: Scope) -> dict[str, str]:
    """The request's headers by lower-cased name; a repeated header's values are joined with
    ", " (RFC 9110 5.3), as WSGI servers do, so a second `Authorization` or `X-User-Token`
    makes the credential invalid rather than silently replacing the first."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


async def _asgi_refuse(refusal: Refusal, scope: Scope, send: Send) -> None:
    if scope.get("type") == "websocket":
        # Closing before the handshake is accepted makes the server refuse it with a 403.
        await send({"type": "websocket.close", "code": WS_POLICY_VIOLATION, "reason": refusal.code})
        return
    body = refusal.body()
    headers = [(n.lower().encode(), v.encode()) for n, v in refusal.response_headers(body)]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def require_scopes(*scopes: str) -> Callable[[Any], Any]:
    """Wraps a WSGI or an ASGI app (behind the middleware) so that it runs only for a principal
    holding every one of `scopes`: 401 without a principal, 403 lacking a scope."""
    if not scopes:
        raise ValueError("require_scopes needs at least one scope")

    def wrap(app: Any) -> Any:
        if inspect.iscoroutinefunction(app) or inspect.iscoroutinefunction(
            getattr(app, "__call__", None)  # noqa: B004 - an ASGI app may be a class instance
        ):
            return _asgi_scoped(app, scopes)
        return _wsgi_scoped(app, scopes)

    return wrap


def _wsgi_scoped(app: WsgiApp, scopes: tuple[str, ...]) -> WsgiApp:
    def scoped(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        try:
            check_scopes(environ.get(PRINCIPAL_KEY), scopes)
        except Refusal as refusal:
            return _wsgi_refuse(refusal, start_response)
        return app(environ, start_response)

    return scoped


def _asgi_scoped(app: AsgiApp, scopes: tuple[str, ...]) -> AsgiApp:
    async def scoped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in GUARDED_SCOPE_TYPES:
            try:
                check_scopes(scope.get(PRINCIPAL_KEY), scopes)
            except Refusal as refusal:
                await _asgi_refuse(refusal, scope, send)
                return
        await app(scope, receive, send)

    return scoped
