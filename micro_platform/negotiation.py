"""Content negotiation with a shortcut for the answers every API client asks for."""

from __future__ import annotations

from collections.abc import Iterable

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings


class ShortcutContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, answered without parsing for a view with one renderer asked with no
    `Accept`, `*/*` or the renderer's own media type: the answer DRF's parser gives for those.

    Parsing and ranking the `Accept` header costs about as much as verifying a memoised token
    on the gateway's hot path. Anything else (several renderers, another header, `?format=`
    or a format suffix) goes through DRF's negotiation unchanged, so its 406s and 404s stay
    DRF's. Only the two constant header values are recognised: nothing read from a client is
    kept between requests.
    """

    def select_renderer(
        self,
        request: Request,
        renderers: Iterable[BaseRenderer],
        format_suffix: str | None = None,
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)
        if len(renderers) == 1 and format_suffix is None:
            renderer = renderers[0]
            accept = request.META.get("HTTP_ACCEPT", "*/*")
            if (
                renderer.media_type
                and accept in ("*/*", renderer.media_type)
                and (api_settings.URL_FORMAT_OVERRIDE not in request.query_params)
            ):
                return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
