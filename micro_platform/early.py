"""Early answers: the WSGI application asks one configured answerer about each request before
Django's handler runs; a request it answers skips the handler (its signals, the middleware,
URL resolution), every other request goes to the handler unchanged.

The answerer (`MICRO_EARLY_ANSWER`, a dotted path; empty for none) takes the request and
returns a response or None. It must answer only what the handler would answer alike: the
gateway's fast path (authn/gateway/fast_path.py) answers only kinds of request whose answer
it has checked against the full stack's (docs/gateway.md). Django's own WSGI handler has no
hook ahead of its request signals and middleware, and those cost more than the whole answer
of a gateway verify; hence this small wrapper.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpResponse
from django.utils.module_loading import import_string

from micro_platform.metrics import request_durations

Answerer = Callable[[WSGIRequest], HttpResponse | None]
StartResponse = Callable[..., Any]


class EarlyAnswerApplication:
    def __init__(self, handler: WSGIHandler) -> None:
        self.handler = handler
        path = settings.MICRO_EARLY_ANSWER
        self.answerer: Answerer | None = import_string(path) if path else None
        self._by_method = request_durations()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self.answerer is None:
            return self.handler(environ, start_response)
        started = time.perf_counter()
        request = WSGIRequest(environ)
        response = self.answerer(request)
        if response is None:
            return self.handler(environ, start_response)
        # Counted in the request-duration histogram as the handler counts every request.
        histogram = self._by_method.get(str(request.method)) or self._by_method["other"]
        histogram.observe(time.perf_counter() - started)
        status = f"{response.status_code} {response.reason_phrase}"
        # `response.items()`, read from the mapping's store (Django 5.2: lower-case name ->
        # (name, value)) instead of one case-folding lookup per header; the equivalence test
        # compares every header with the handler's.
        headers = [
            *response.headers._store.values(),
            *(("Set-Cookie", cookie.output(header="")) for cookie in response.cookies.values()),
        ]
        start_response(status, headers)
        # Unlike the handler's answers, this one sends no request_started/request_finished:
        # their receivers (closing database connections that are broken or past
        # DJANGO_CONN_MAX_AGE, closing caches, resetting the URLconf) cost a third of such an
        # answer, and the next request the handler serves runs them. An answerer that fails
        # on a broken connection passes the request to the handler, which closes it first.
        # (Its close(), which would send request_finished, is not called: the answer is bytes
        # in memory, with no resource to release.)
        return [response.content]
