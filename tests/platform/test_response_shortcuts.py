"""The CSP middleware's cached policy and the negotiation shortcut answer exactly as the
libraries they shortcut (django-csp's middleware, DRF's default negotiation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import csp.middleware
import pytest
from csp.decorators import csp_exempt, csp_replace, csp_update
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request

from micro_platform.middleware import CSPMiddleware
from micro_platform.negotiation import ShortcutContentNegotiation

CSP_HEADERS = ("Content-Security-Policy", "Content-Security-Policy-Report-Only")


def _plain(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok")


def _uses_nonce(request: HttpRequest) -> HttpResponse:
    return HttpResponse(str(request.csp_nonce))  # type: ignore[attr-defined]


def _has_header(request: HttpRequest) -> HttpResponse:
    response = HttpResponse("ok")
    response["Content-Security-Policy"] = "default-src 'none'"
    return response


def _status(code: int) -> Callable[[HttpRequest], HttpResponse]:
    return lambda request: HttpResponse("x", status=code)


VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {
    "plain": _plain,
    "nonce": _uses_nonce,
    "header set": _has_header,
    "update": csp_update({"form-action": ["https:"]})(_plain),
    "replace": csp_replace({"img-src": ["'self'"]})(_plain),
    "exempt": csp_exempt()(_plain),
    "404": _status(404),
    "500": _status(500),
}


def _headers(middleware_class: type, view: Callable[[HttpRequest], HttpResponse], path: str) -> Any:
    request = RequestFactory().get(path)
    response = middleware_class(view)(request)
    return {name: response.get(name) for name in CSP_HEADERS}


POLICIES = {
    "enforced": {},
    "report-only too": {
        "CONTENT_SECURITY_POLICY_REPORT_ONLY": {
            "DIRECTIVES": {"default-src": ["'none'"], "report-uri": "/csp"},
            "EXCLUDE_URL_PREFIXES": ["/admin"],
        }
    },
    "excluded prefix": {
        "CONTENT_SECURITY_POLICY": {
            "EXCLUDE_URL_PREFIXES": ["/api"],
            "DIRECTIVES": {"default-src": ["'self'"]},
        }
    },
}


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("path", ["/api/v1/auth/verify", "/admin/login/"])
def test_csp_headers_are_django_csps(
    settings: Any, debug: bool, policy: str, view: str, path: str
) -> None:
    settings.DEBUG = debug
    for name, value in POLICIES[policy].items():
        setattr(settings, name, value)
    expected = _headers(csp.middleware.CSPMiddleware, VIEWS[view], path)
    assert _headers(CSPMiddleware, VIEWS[view], path) == expected
    if view == "plain" and not debug and path.startswith("/admin"):
        assert expected["Content-Security-Policy"]  # the corpus exercises a real policy


def test_a_settings_change_reaches_the_cached_policy(settings: Any) -> None:
    before = _headers(CSPMiddleware, _plain, "/healthz")["Content-Security-Policy"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"]}}
    after = _headers(CSPMiddleware, _plain, "/healthz")["Content-Security-Policy"]
    assert after == "default-src 'none'" != before


def test_a_nonce_asked_for_after_the_response_is_an_error() -> None:
    request = RequestFactory().get("/healthz")
    CSPMiddleware(_plain)(request)
    with pytest.raises(csp.middleware.CSPNonceError):
        str(request.csp_nonce)  # type: ignore[attr-defined]


ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html",
    "text/html, */*;q=0.1",
    "",
    "application/xml",
    "*/*;q=0",
]
RENDERER_SETS: list[list[type[BaseRenderer]]] = [
    [JSONRenderer],
    [JSONRenderer, BrowsableAPIRenderer],
    [BrowsableAPIRenderer],
]


def _negotiate(
    negotiation: DefaultContentNegotiation,
    request: Request,
    renderers: list[BaseRenderer],
    suffix: str | None,
) -> Any:
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
    except Exception as exc:  # noqa: BLE001 - the outcome compared, whatever it is
        return type(exc)
    return type(renderer), media_type


@pytest.mark.parametrize("accept", ACCEPTS)
@pytest.mark.parametrize("renderer_classes", RENDERER_SETS)
@pytest.mark.parametrize("query", ["", "?format=json", "?format=api", "?format=xml"])
@pytest.mark.parametrize("suffix", [None, "json"])
def test_negotiation_answers_as_drf(
    accept: str | None,
    renderer_classes: list[type[BaseRenderer]],
    query: str,
    suffix: str | None,
) -> None:
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(RequestFactory().get(f"/api/v1/users/x{query}", **headers))
    renderers = [cls() for cls in renderer_classes]
    expected = _negotiate(DefaultContentNegotiation(), request, renderers, suffix)
    assert _negotiate(ShortcutContentNegotiation(), request, renderers, suffix) == expected


def test_the_shortcut_answers_the_common_requests_without_parsing() -> None:
    shortcut = ShortcutContentNegotiation()
    for accept in (None, "*/*", "application/json"):
        headers = {} if accept is None else {"HTTP_ACCEPT": accept}
        request = Request(RequestFactory().get("/api/v1/users/x", **headers))
        renderer, media_type = shortcut.select_renderer(request, [JSONRenderer()])
        assert (type(renderer), media_type) == (JSONRenderer, "application/json")
        assert getattr(request, "_parsed_accept_list", None) is None  # DRF's parse never ran
    request = Request(RequestFactory().get("/api/v1/users/x", HTTP_ACCEPT="text/html"))
    with pytest.raises(NotAcceptable):
        shortcut.select_renderer(request, [JSONRenderer()])
