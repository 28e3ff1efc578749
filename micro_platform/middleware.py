"""Request-level guards that run before any view."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from micro_platform.errors import problem_response


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
