"""What a dashboard session proves: how (`amr`) and when (`auth_time`) the user signed in.

Stored in the session at sign-in so the API's session principal carries the same facts a
token would; the api_admin key rule relies on them.
"""

from __future__ import annotations

import time

from django.contrib.sessions.backends.base import SessionBase

from accounts.models import User
from accounts.principals import principal_for_user
from micro_platform.identity import Principal

AMR_KEY = "micro_amr"
AUTH_TIME_KEY = "micro_auth_time"


def session_mark_signed_in(session: SessionBase, *, amr: tuple[str, ...]) -> None:
    """Records the sign-in's methods and time; call right after `login()`."""
    session[AMR_KEY] = list(amr)
    session[AUTH_TIME_KEY] = int(time.time())


def principal_for_session(user: User, session: SessionBase | None) -> Principal:
    """The principal of a session user, never claiming more than the sign-in proved."""
    amr = (session.get(AMR_KEY) if session is not None else None) or ["pwd"]
    auth_time = session.get(AUTH_TIME_KEY) if session is not None else None
    row_id = getattr(session, "dashboard_session_id", None)
    return principal_for_user(
        user,
        method="session",
        amr=tuple(str(value) for value in amr if value in ("pwd", "otp")),
        session_id=str(row_id) if row_id is not None else None,
        auth_time=auth_time if isinstance(auth_time, int) else None,
    )
