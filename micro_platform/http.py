"""Small helpers every API view uses: the principal, client IP, cacheable public responses."""

from __future__ import annotations

import hashlib
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import parse_etags
from rest_framework import status
from rest_framework.exceptions import NotAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from authn.principal import Principal


def principal_of(request: Request) -> Principal:
    """The authenticated principal (views behind HasRequiredScopes always have one)."""
    principal = request.user
    if not isinstance(principal, Principal):
        raise NotAuthenticated()
    return principal


def client_ip(request: Request | HttpRequest) -> str | None:
    """The peer address; a trusted proxy in front is expected to set REMOTE_ADDR correctly."""
    return request.META.get("REMOTE_ADDR") or None


def cacheable(request: Request, data: Any, *, max_age: int = 60) -> HttpResponse:
    """A 200 with a strong ETag and `Cache-Control: private`; 304 when If-None-Match matches.

    The body is rendered once, here, and returned as is (DRF would render it again).
    """
    body = JSONRenderer().render(data)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
    else:
        response = HttpResponse(body, content_type="application/json")
    response["ETag"] = etag
    response["Cache-Control"] = f"private, max-age={max_age}"
    patch_vary_headers(response, ["Authorization", "Cookie"])
    return response


def no_store(response: Response) -> Response:
    """Marks a response carrying credentials as never cacheable (RFC 6749 §5.1)."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
