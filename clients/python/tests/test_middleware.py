"""The WSGI and ASGI middleware with a real verifier: the principal handed to the app, and the
401, 403 and 503 problems (with their WWW-Authenticate) for what they refuse."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest
from conftest import AUDIENCE, ISSUER, UPSTREAM_AUDIENCE, Issuer

from micro_client import JwksCache, TokenVerifier, UpstreamTokenVerifier, contract
from micro_client.middleware import (
    MicroASGIMiddleware,
    MicroWSGIMiddleware,
    require_scopes,
)


def wsgi_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    principal = environ["micro.principal"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [(principal.username if principal else "anonymous").encode()]


async def asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    principal = scope["micro.principal"]
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": principal.username.encode()})


def call_wsgi(app: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    environ: dict[str, Any] = {f"HTTP_{k.upper()}": v for k, v in headers.items()}
    setup_testing_defaults(environ)
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        answer["status"] = int(status.split()[0])
        answer["headers"] = {name.lower(): value for name, value in response_headers}

    body = b"".join(app(environ, start_response))
    return answer["status"], answer["headers"], body


def call_asgi(app: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    response_headers = {k.decode().lower(): v.decode() for k, v in sent[0].get("headers", [])}
    return sent[0]["status"], response_headers, sent[1]["body"]


def verifier(issuer: Issuer) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=JwksCache(issuer.url))


SERVERS = [
    pytest.param(MicroWSGIMiddleware, wsgi_app, call_wsgi, id="wsgi"),
    pytest.param(MicroASGIMiddleware, asgi_app, call_asgi, id="asgi"),
]


@pytest.mark.parametrize(("middleware", "app", "call"), SERVERS)
def test_a_valid_token_reaches_the_app_with_its_principal(
    issuer: Issuer, middleware: Any, app: Any, call: Any
) -> None:
    token = issuer.sign(issuer.claims())

    status, _, body = call(middleware(app, verifier(issuer)), authorization=f"Bearer {token}")

    assert (status, body) == (200, b"ada")


@pytest.mark.parametrize(("middleware", "app", "call"), SERVERS)
def test_no_token_is_a_401_problem_with_a_bearer_challenge(
    issuer: Issuer, middleware: Any, app: Any, call: Any
) -> None:
    status, headers, body = call(middleware(app, verifier(issuer)))

    assert status == 401
    assert headers["content-type"] == "application/problem+json"
    assert headers["www-authenticate"] == 'Bearer realm="api"'
    assert json.loads(body)["code"] == "not_authenticated"


@pytest.mark.parametrize(("middleware", "app", "call"), SERVERS)
def test_a_refused_token_is_a_401_invalid_token(
    issuer: Issuer, middleware: Any, app: Any, call: Any
) -> None:
    upstream = issuer.sign(issuer.claims(), typ=contract.UPSTREAM_TOKEN_TYP)

    status, headers, body = call(
        middleware(app, verifier(issuer)), authorization=f"Bearer {upstream}"
    )

    assert status == 401 and json.loads(body)["code"] == "invalid_token"
    assert headers["www-authenticate"] == 'Bearer realm="api", error="invalid_token"'


@pytest.mark.parametrize(("middleware", "app", "call"), SERVERS)
def test_a_missing_scope_is_a_403_insufficient_scope(
    issuer: Issuer, middleware: Any, app: Any, call: Any
) -> None:
    token = issuer.sign(issuer.claims(scope="profile"))
    guarded = middleware(require_scopes("billing:read")(app), verifier(issuer))

    status, headers, body = call(guarded, authorization=f"Bearer {token}")

    assert status == 403 and json.loads(body)["code"] == "insufficient_scope"
    assert 'error="insufficient_scope", scope="billing:read"' in headers["www-authenticate"]


@pytest.mark.parametrize(("middleware", "app", "call"), SERVERS)
def test_api_admin_passes_a_micro_scope_but_not_another_services(
    issuer: Issuer, middleware: Any, app: Any, call: Any
) -> None:
    token = issuer.sign(issuer.claims(scope=contract.API_ADMIN))
    micro = middleware(require_scopes(contract.USERS_READ)(app), verifier(issuer))
    billing = middleware(require_scopes("billing:read")(app), verifier(issuer))

    assert call(micro, authorization=f"Bearer {token}")[0] == 200
    assert call(billing, authorization=f"Bearer {token}")[0] == 403


@pytest.mark.parametrize(("middleware", "app", "call"), SERVERS)
def test_unavailable_keys_are_a_503(issuer: Issuer, middleware: Any, app: Any, call: Any) -> None:
    token = issuer.sign(issuer.claims())
    down = TokenVerifier(
        issuer=ISSUER, audience=AUDIENCE, jwks=JwksCache("http://127.0.0.1:9/jwks.json")
    )

    status, _, body = call(middleware(app, down), authorization=f"Bearer {token}")

    assert status == 503 and json.loads(body)["code"] == "signing_keys_unavailable"


@pytest.mark.parametrize(("middleware", "app", "call"), SERVERS)
def test_behind_the_gateway_the_upstream_token_is_read_from_x_user_token(
    issuer: Issuer, middleware: Any, app: Any, call: Any
) -> None:
    claims = issuer.claims(aud=UPSTREAM_AUDIENCE, token_type="upstream", amr=[])
    upstream = issuer.sign(claims, typ=contract.UPSTREAM_TOKEN_TYP)
    access = issuer.sign(issuer.claims())
    gateway = UpstreamTokenVerifier(
        issuer=ISSUER, audience=UPSTREAM_AUDIENCE, jwks=JwksCache(issuer.url)
    )
    guarded = middleware(app, gateway)

    assert call(guarded, x_user_token=upstream)[:3:2] == (200, b"ada")
    assert call(guarded, authorization=f"Bearer {access}")[0] == 401
    assert call(guarded, x_user_token=access)[0] == 401


def test_with_optional_a_request_without_a_token_goes_on_anonymously(issuer: Issuer) -> None:
    status, _, body = call_wsgi(MicroWSGIMiddleware(wsgi_app, verifier(issuer), optional=True))

    assert (status, body) == (200, b"anonymous")


def test_require_scopes_without_a_principal_is_a_401() -> None:
    status, _, body = call_wsgi(require_scopes("billing:read")(wsgi_app))

    assert status == 401 and json.loads(body)["code"] == "not_authenticated"


def open_websocket(app: Any, **headers: str) -> list[dict[str, Any]]:
    """Runs `app` on a WebSocket handshake; the messages it sent (an accept, or a close)."""
    scope = {
        "type": "websocket",
        "path": "/ws",
        "headers": [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


async def websocket_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    principal = scope.get("micro.principal")
    await send({"type": "websocket.accept", "subprotocol": principal and principal.username})


def test_require_scopes_closes_a_websocket_without_a_principal() -> None:
    sent = open_websocket(require_scopes("billing:read")(websocket_app))

    assert sent == [{"type": "websocket.close", "code": 1008, "reason": "not_authenticated"}]


def test_a_websocket_handshake_is_authenticated_and_scope_checked(issuer: Issuer) -> None:
    guarded = MicroASGIMiddleware(require_scopes("profile")(websocket_app), verifier(issuer))
    allowed = issuer.sign(issuer.claims())
    lacking = issuer.sign(issuer.claims(scope="users:read"))

    assert open_websocket(guarded, authorization=f"Bearer {allowed}") == [
        {"type": "websocket.accept", "subprotocol": "ada"}
    ]
    assert open_websocket(guarded) == [
        {"type": "websocket.close", "code": 1008, "reason": "not_authenticated"}
    ]
    assert open_websocket(guarded, authorization="Bearer not-a-token") == [
        {"type": "websocket.close", "code": 1008, "reason": "invalid_token"}
    ]
    assert open_websocket(guarded, authorization=f"Bearer {lacking}") == [
        {"type": "websocket.close", "code": 1008, "reason": "insufficient_scope"}
    ]


def test_lifespan_events_pass_the_middleware_untouched(issuer: Issuer) -> None:
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    async def receive() -> Any:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        raise AssertionError(message)

    asyncio.run(MicroASGIMiddleware(app, verifier(issuer))({"type": "lifespan"}, receive, send))

    assert seen == ["lifespan"]


def test_a_repeated_credential_header_is_refused_not_resolved_to_one_of_them(
    issuer: Issuer,
) -> None:
    token = issuer.sign(issuer.claims())
    app: Any = asgi_app
    guarded = MicroASGIMiddleware(app, verifier(issuer))
    headers = [(b"authorization", b"Bearer " + token.encode())] * 2
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    asyncio.run(guarded(scope, receive, send))

    assert sent[0]["status"] == 401
    assert json.loads(sent[1]["body"])["code"] == "invalid_token"
