"""Small helpers every API view uses: the principal, client IP, cacheable public responses."""

from __future__ import annotations

import functools
import hashlib
import ipaddress
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.http import parse_etags
from rest_framework import status
from rest_framework.compat import LONG_SEPARATORS, SHORT_SEPARATORS
from rest_framework.exceptions import NotAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from micro_platform.identity import Principal


def principal_of(request: Request) -> Principal:
    """The authenticated principal (views behind HasRequiredScopes always have one)."""
    principal = request.user
    if not isinstance(principal, Principal):
        raise NotAuthenticated()
    return principal


def client_ip(request: Request | HttpRequest) -> str | None:
    """The client's address: the peer, or — when the peer is a trusted proxy — the address it
    reports in `X-Forwarded-For` (per-IP throttles and audit events need the real client)."""
    return client_ip_from_meta(request.META)


@functools.cache
def _trusted_networks(
    spec: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def _parsed(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def client_ip_from_meta(meta: Mapping[str, Any]) -> str | None:
    """`REMOTE_ADDR`, unless it is one of `MICRO_TRUSTED_PROXIES`: then the right-most address
    of `X-Forwarded-For` that is not a trusted proxy (addresses left of it are the client's
    own claims and could be forged)."""
    peer = meta.get("REMOTE_ADDR") or None
    if peer is None or not settings.MICRO_TRUSTED_PROXIES:  # every request: no parsing then
        return peer
    networks = _trusted_networks(tuple(settings.MICRO_TRUSTED_PROXIES))

    def trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None) -> bool:
        return ip is not None and any(ip in network for network in networks)

    if not trusted(_parsed(peer)):
        return peer
    for hop in reversed(
        [hop.strip() for hop in str(meta.get("HTTP_X_FORWARDED_FOR", "")).split(",")]
    ):
        if not hop:
            continue
        ip = _parsed(hop)
        if ip is None:
            return peer  # a malformed chain: fall back to what the socket says
        if not trusted(ip):
            return hop
    return peer


# JSONRenderer's encoder, built once with the renderer's own options (its class attributes,
# fixed when DRF is imported): `json_body` gives the bytes `JSONRenderer().render` gives.
_ENCODER = JSONRenderer.encoder_class(
    ensure_ascii=JSONRenderer.ensure_ascii,
    allow_nan=not JSONRenderer.strict,
    separators=SHORT_SEPARATORS if JSONRenderer.compact else LONG_SEPARATORS,
)


def json_body(data: Any) -> bytes:
    """`JSONRenderer().render(data)` without a renderer per call: the same JSON, U+2028 and
    U+2029 escaped as DRF escapes them, in UTF-8."""
    text = _ENCODER.encode(data)
    if "\u2028" in text or "\u2029" in text:
        text = text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return text.encode()


def cacheable_headers(body: bytes, *, max_age: int = 60) -> dict[str, str]:
    """The headers of `cacheable`'s 200 for `body`, in its order: the JSON type, a strong
    ETag (the body's SHA-256, 128 bits), `Cache-Control: private` and `Vary` on the two
    headers that can carry a credential."""
    return {
        "Content-Type": "application/json",
        "ETag": '"' + hashlib.sha256(body).hexdigest()[:32] + '"',
        "Cache-Control": f"private, max-age={max_age}",
        "Vary": "Authorization, Cookie",
    }


def cacheable(request: Request | HttpRequest, data: Any, *, max_age: int = 60) -> HttpResponse:
    """A 200 with a strong ETag and `Cache-Control: private`; 304 when If-None-Match matches.

    The body is rendered once, here, and returned as is (DRF would render it again).
    """
    body = json_body(data)
    headers = cacheable_headers(body, max_age=max_age)
    if headers["ETag"] in parse_etags(request.META.get("HTTP_IF_NONE_MATCH", "")):
        response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
        del headers["Content-Type"]  # a 304 has no body; it keeps HttpResponse's default
    else:
        response = HttpResponse(body)
    for name, value in headers.items():
        response[name] = value
    return response


def no_store(response: Response) -> Response:
    """Marks a response carrying credentials as never cacheable (RFC 6749 §5.1)."""
    response["Cache-Control"] = "no-store"
    response["Pragma"] = "no-cache"
    return response
