"""Request-side support for the dashboard session store."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse

from micro_platform.http import client_ip

LAST_SEEN_KEY = "micro_seen"
# Writing the session on every request would cost a database write per page view.
LAST_SEEN_INTERVAL_SECONDS = 60


class DashboardSessionMiddleware:
    """Tells the session store the client (IP, user agent) and refreshes `last seen` each minute.

    Goes right after SessionMiddleware.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is None:
            return self.get_response(request)
        user_agent = request.META.get("HTTP_USER_AGENT", "")[:300]
        session.client = (client_ip(request), user_agent)
        response = self.get_response(request)
        _touch(session)
        return response


def _touch(session: SessionBase) -> None:
    # Only a session this request already loaded: no extra query on requests that never
    # looked at it (bearer-token API calls), and nothing when loading it failed (database down).
    if not hasattr(session, "_session_cache") or not session.get(SESSION_KEY):
        return
    now = int(time.time())
    if now - int(session.get(LAST_SEEN_KEY, 0)) >= LAST_SEEN_INTERVAL_SECONDS:
        session[LAST_SEEN_KEY] = now
