"""Prometheus metrics (docs/operations.md, "Monitoring") and the `/metrics` endpoint.

Counters live in prometheus-client's default registry. Under gunicorn with several workers,
set `PROMETHEUS_MULTIPROC_DIR` to an empty directory writable by the workers (before they
start): prometheus-client then keeps each worker's values in files there, `/metrics` sums
them, and `deploy/gunicorn.conf.py` drops a dead worker's live gauges (`child_exit`).
Without the variable, each process reports only itself.

Access: `/metrics` is never for the internet. With `MICRO_METRICS_TOKEN` set, a request needs
`Authorization: Bearer <token>`. Without it, only a direct peer on a loopback or private
address is served, and a request that came through a proxy (it carries `X-Forwarded-For`,
`Forwarded` or `X-Real-IP`) is refused, since behind nginx every peer looks like 127.0.0.1.
Refusals are a plain 404, so the endpoint is not advertised.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

SIGN_INS = Counter(
    "micro_sign_ins_total",
    "Password sign-ins by result: succeeded, failed (bad credentials), locked (refused while "
    "the account is locked or the client throttled).",
    ["result"],
)
LOCKOUTS = Counter("micro_lockouts_total", "Accounts locked after repeated failed sign-ins.")
TOKENS_ISSUED = Counter(
    "micro_tokens_issued_total",
    "Access tokens issued, by path (api, oauth) and grant (password, refresh, exchange, "
    "authorization_code, refresh_token, client_credentials, device_code).",
    ["path", "grant"],
)
GATEWAY_VERIFIES = Counter(
    "micro_gateway_verifies_total",
    "Forward-auth answers by result: allowed, unauthenticated, forbidden, bad_request, "
    "unavailable.",
    ["result"],
)
REQUEST_DURATION = Histogram(
    "micro_request_duration_seconds",
    "Time spent in Django per request, by HTTP method.",
    ["method"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

_VERIFY_RESULTS = {
    200: "allowed",
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    503: "unavailable",
}
_KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
_DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


def sign_in(result: str) -> None:
    SIGN_INS.labels(result=result).inc()


def lockout() -> None:
    LOCKOUTS.inc()


def token_issued(*, path: str, grant: str) -> None:
    # The device grant's name is a URN; the label keeps it short.
    TOKENS_ISSUED.labels(
        path=path, grant="device_code" if grant == _DEVICE_CODE_GRANT else grant
    ).inc()


def gateway_verify(status_code: int) -> None:
    # The counter of each status is bound on first use: a label lookup takes a lock per call.
    counter = _verify_counters.get(status_code)
    if counter is None:
        result = _VERIFY_RESULTS.get(status_code, "other")
        counter = _verify_counters.setdefault(status_code, GATEWAY_VERIFIES.labels(result=result))
    counter.inc()


_verify_counters: dict[int, Any] = {}


def request_durations() -> dict[str, Any]:
    """The request-duration histogram of each method label, bound once: a label lookup per
    request would take a lock and a dict lookup. Any method name is accepted by HTTP; the
    label stays bounded ("other")."""
    return {method: REQUEST_DURATION.labels(method=method) for method in (*_KNOWN_METHODS, "other")}


class RequestDurationMiddleware:
    """Observes each request's time in Django; first in MIDDLEWARE, so it sees all of it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._by_method = request_durations()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        histogram = self._by_method.get(str(request.method)) or self._by_method["other"]
        histogram.observe(time.perf_counter() - started)
        return response


def _registry() -> CollectorRegistry:
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


def _bearer_matches(request: HttpRequest, token: str) -> bool:
    scheme, _, presented = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def _private_direct_peer(request: HttpRequest) -> bool:
    if any(request.META.get(header) for header in _PROXY_HEADERS):
        return False
    try:
        peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return peer.is_loopback or peer.is_private


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.MICRO_METRICS_TOKEN
    if token:
        return _bearer_matches(request, token)
    return _private_direct_peer(request)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text exposition, for allowed scrapers only (404 to anyone else)."""
    if not metrics_allowed(request):
        return HttpResponseNotFound()
    return HttpResponse(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
