"""Request-level guards that run before any view."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import csp.constants
import csp.middleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.http.request import split_domain_port, validate_host

from micro_platform.errors import API_PREFIXES, PROBLEM_CONTENT_TYPE, problem_response

logger = logging.getLogger("micro.issuer")

_DEFAULT_PORTS = {"http": "80", "https": "443"}
FORWARD_AUTH_PATH = "/api/v1/auth/verify"


class BodySizeLimitMiddleware:
    """Answers 413 to a body declared larger than MICRO_MAX_BODY_BYTES, before reading it.

    DRF's parsers read the stream directly, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check,
    so the bound is enforced here on Content-Length.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return problem_response(request, 400, "bad_content_length", "Invalid Content-Length.")
        if length > settings.MICRO_MAX_BODY_BYTES:
            return problem_response(
                request, 413, "payload_too_large", "The request body exceeds 1 MiB."
            )
        return self.get_response(request)


class ApiNotFoundMiddleware:
    """Answers problem details for every 404 under the API prefixes, also under DEBUG.

    `handler404` does so when DEBUG is off; under DEBUG Django answers its technical HTML page
    (listing every URL pattern) before any handler runs, so the response is replaced here.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith(API_PREFIXES)
            and not str(response.get("Content-Type", "")).startswith(PROBLEM_CONTENT_TYPE)
        ):
            return problem_response(request, 404, "not_found", "No such resource.")
        return response


def issuer_hosts(issuer: str) -> frozenset[str]:
    """The Host header values that name the issuer: its host, with or without a default port."""
    parts = urlsplit(issuer)
    host = parts.netloc.lower()
    default_port = _DEFAULT_PORTS.get(parts.scheme, "")
    if parts.port is None:
        return frozenset({host, f"{host}:{default_port}"})
    if str(parts.port) == default_port:
        return frozenset({host, host.rsplit(":", 1)[0]})
    return frozenset({host})


class _Warned:
    logged = False


class IssuerHostMiddleware:
    """Logs one warning per process when a request arrives on a host the issuer does not name.

    Tokens (`iss`), discovery and emailed links all say MICRO_ISSUER; a client that reached the
    service at another address (`make run PORT=8200` with MICRO_ISSUER left at :8000) sets its
    verifier up with that address and then refuses every token. Until the warning is logged
    each request costs one set lookup; after it, one attribute read.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.issuer = settings.MICRO_ISSUER
        self.hosts = issuer_hosts(self.issuer)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not _Warned.logged:
            host = request.META.get("HTTP_HOST", "")
            # The gateway's verify is asked under the protected service's host
            # (deploy/nginx/micro-gateway.conf), on every proxied request: it is left out
            # before any parsing.
            if host not in self.hosts and not request.path.startswith(FORWARD_AUTH_PATH):
                self._warn(host)
        return self.get_response(request)

    def _warn(self, host: str) -> None:
        # Another case of the same name is the same host; a Host the service refuses anyway
        # (not in ALLOWED_HOSTS) says nothing about its configuration.
        domain, _ = split_domain_port(host)
        if host.lower() in self.hosts or not domain:
            return
        if not _allowed(domain):
            return
        _Warned.logged = True
        logger.warning(
            "A request arrived for host %r, but MICRO_ISSUER is %s: tokens, discovery and "
            "emailed links name the issuer, and a client that uses this address refuses them. "
            "Set MICRO_ISSUER to the address clients use (logged once per process).",
            host,
            self.issuer,
        )


def _allowed(domain: str) -> bool:
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]  # Django's own rule under DEBUG
    return validate_host(domain, allowed)


_CSP_PARTS = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)


@functools.cache
def _settings_policies() -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    """The policy and report-only policy built from the settings alone, and their excluded
    path prefixes. Rebuilt when a test changes the settings (`setting_changed`)."""
    enforced = getattr(settings, "CONTENT_SECURITY_POLICY", None) or {}
    report_only = getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", None) or {}
    return (
        build_policy(),
        build_policy(report_only=True),
        tuple(enforced.get("EXCLUDE_URL_PREFIXES", None) or ()),
        tuple(report_only.get("EXCLUDE_URL_PREFIXES", None) or ()),
    )


@receiver(setting_changed)
def _settings_policies_reset(*, setting: str, **kwargs: object) -> None:
    if setting.startswith("CONTENT_SECURITY_POLICY"):
        _settings_policies.cache_clear()


class CSPMiddleware(csp.middleware.CSPMiddleware):
    """django-csp's middleware, with the policy built once instead of twice per response.

    django-csp builds both policies from the settings on every response (a deep copy and a
    join of every directive), which costs a quarter of a `/healthz` answer. A response no view
    customised (no `csp_update`/`csp_replace`/`csp` decorator) and whose request used no nonce
    gets the policies built once from the settings; any other goes through django-csp as is.
    The rules for setting the headers are django-csp's own, restated for that one case.
    """

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if getattr(request, "_csp_nonce", None) is not None or any(
            hasattr(response, name) for name in _CSP_PARTS
        ):
            return super().process_response(request, response)
        if response.status_code in (500, 404) and settings.DEBUG:
            return response  # Django's debug pages, as django-csp leaves them
        enforced, report_only, excluded, excluded_ro = _settings_policies()
        path = request.path_info
        if (
            enforced
            and csp.constants.HEADER not in response
            and getattr(response, "_csp_exempt", False) is False
            and not path.startswith(excluded)
        ):
            response[csp.constants.HEADER] = enforced
        if (
            report_only
            and csp.constants.HEADER_REPORT_ONLY not in response
            and getattr(response, "_csp_exempt_ro", False) is False
            and not path.startswith(excluded_ro)
        ):
            response[csp.constants.HEADER_REPORT_ONLY] = report_only
        # As django-csp: a nonce asked for after the header is written is an error.
        guard = csp.middleware.CheckableLazyObject(self._csp_nonce_post_response)
        setattr(request, "csp_nonce", guard)  # noqa: B010 - not a declared attribute
        return response
