"""RFC 9457 problem details for every error the API returns."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.utils import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions, status
from rest_framework.response import Response

from micro_platform.scopes import ScopesRefused

logger = logging.getLogger("micro.errors")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:micro:problem:"


class DependencyError(RuntimeError):
    """Raised by services when something they depend on is unusable; the API answers 503."""


class Problem(exceptions.APIException):
    """An API error with an explicit status and machine-readable `code`; `extra` adds
    members to the body (RFC 9457 extension members), never replacing the standard ones."""

    def __init__(
        self, *, status_code: int, code: str, detail: str, extra: dict[str, Any] | None = None
    ) -> None:
        self.status_code = status_code
        self.extra = dict(extra or {})
        super().__init__(detail=detail, code=code)


def field_problem(
    *, status_code: int, code: str, errors: dict[str, list[str]], detail: str | None = None
) -> Problem:
    """A refusal other than a 400 that is about fields: their messages under `errors`, as a
    400's are, and all of them as the `detail` unless one is given."""
    if detail is None:
        detail = " ".join(message for messages in errors.values() for message in messages)
    return Problem(status_code=status_code, code=code, detail=detail, extra={"errors": errors})


class PayloadTooLarge(Problem):
    def __init__(self) -> None:
        super().__init__(
            status_code=413, code="payload_too_large", detail="The request body exceeds 1 MiB."
        )


def problem_body(
    status_code: int, code: str, detail: str, errors: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(
    request: HttpRequest | None, status_code: int, code: str, detail: str
) -> JsonResponse:
    """A problem response outside DRF (middleware, URL-level 404/500)."""
    return JsonResponse(
        problem_body(status_code, code, detail),
        status=status_code,
        content_type=PROBLEM_CONTENT_TYPE,
    )


def validation_problem(exc: DjangoValidationError, field: str) -> exceptions.APIException:
    """A service's Django ValidationError as a 400 with the same field names; messages
    without a field go under `field`. Scope names nobody holds are a 403 `invalid_scope`."""
    if isinstance(exc, ScopesRefused):
        errors = exc.message_dict if hasattr(exc, "error_dict") else {field: exc.messages}
        return field_problem(status_code=403, code="invalid_scope", errors=errors)
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(exc.message_dict)
    return exceptions.ValidationError(
        {field: list(exc.messages)}, code=getattr(exc, "code", None) or "invalid"
    )


def _flatten(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_flatten(item) for item in detail]
    return str(detail)


def _first_code(detail: Any, default: str) -> str:
    if isinstance(detail, dict):
        detail = next(iter(detail.values()), None)
    if isinstance(detail, list):
        detail = detail[0] if detail else None
    return str(getattr(detail, "code", None) or default)


class DependencyUnavailable(Problem):
    def __init__(self) -> None:
        super().__init__(
            status_code=503,
            code="dependency_unavailable",
            detail="A backing service (database or cache) is unavailable; retry shortly.",
        )


# Lost database or cache connections, or a service reporting an unusable dependency: answer
# 503 (fail closed), never a traceback.
_DEPENDENCY_FAILURES = (
    DependencyError,
    OperationalError,
    InterfaceError,
    ConnectionInterrupted,
    RedisConnectionError,
    RedisTimeoutError,
)


def _normalise(exc: Exception) -> exceptions.APIException | None:
    if isinstance(exc, _DEPENDENCY_FAILURES):
        logger.error("dependency unavailable: %s: %s", type(exc).__name__, exc)
        return DependencyUnavailable()
    if isinstance(exc, Http404):
        return exceptions.NotFound()
    if isinstance(exc, DjangoPermissionDenied):
        # A subclass may name its refusal (`code = "recent_sign_in_required"`).
        return exceptions.PermissionDenied(str(exc) or None, code=getattr(exc, "code", None))
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, exceptions.APIException):
        return exc
    return None


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF exception handler rendering problem details; unknown exceptions stay 500s."""
    api_exc = _normalise(exc)
    if api_exc is None:
        return None
    headers: dict[str, str] = {}
    if getattr(api_exc, "auth_header", None):
        headers["WWW-Authenticate"] = str(api_exc.auth_header)  # type: ignore[attr-defined]
    if getattr(api_exc, "wait", None):
        headers["Retry-After"] = str(int(api_exc.wait))  # type: ignore[attr-defined]
    if isinstance(api_exc, exceptions.ValidationError):
        detail: Any = api_exc.detail
        errors = (
            _flatten(detail) if isinstance(detail, dict) else {"non_field_errors": _flatten(detail)}
        )
        body = problem_body(
            status.HTTP_400_BAD_REQUEST,
            _first_code(detail, "invalid"),
            "The request is invalid; see `errors`.",
            errors,
        )
    else:
        code = _first_code(api_exc.detail, api_exc.default_code)
        body = problem_body(api_exc.status_code, code, str(_flatten(api_exc.detail)))
        extra = getattr(api_exc, "extra", None) or {}
        body.update({key: value for key, value in extra.items() if key not in body})
    return Response(body, status=body["status"], headers=headers, content_type=PROBLEM_CONTENT_TYPE)


# Paths whose clients are programs: every error under them is problem details, 404s included.
API_PREFIXES = ("/api/", "/user/", "/.well-known/")


def _wants_problem(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_problem(request):
        return problem_response(request, 404, "not_found", "No such resource.")
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    if _wants_problem(request):
        return problem_response(request, 500, "server_error", "An unexpected error occurred.")
    from django.views.defaults import server_error

    return server_error(request)
