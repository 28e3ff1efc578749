"""What a dashboard session proves: how (`amr`) and when (`auth_time`) the user signed in.

Stored in the session at sign-in so the API's session principal carries the same facts a
token would; the api_admin key rule relies on them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from django.contrib.sessions.backends.base import SessionBase

from accounts.models import User
from accounts.principals import principal_for_user
from micro_platform.identity import Principal
from micro_platform.sign_in import PASSKEY_AMR

AMR_KEY = "micro_amr"
AUTH_TIME_KEY = "micro_auth_time"
# The identity provider's slug of a federated sign-in (`fed` in amr).
IDP_KEY = "micro_idp"
# A federated sign-in whose second factor counts here: the local code step passed ("otp"), a
# local passkey ("hwk" or "swk"), or an MFA-enforcing provider said its sign-in used one
# ("mfa"). The upstream's own `amr` values are kept for information and never count by
# themselves.
FED_MFA_KEY = "micro_fed_mfa"
FEDERATED = "fed"
# What a local sign-in may prove (RFC 8176): a password, a one-time code, a passkey (a
# hardware-bound key, or a synced software key), the user verified by the authenticator, and
# more than one factor.
LOCAL_AMR = ("pwd", "otp", *PASSKEY_AMR, "user", "mfa")


def session_mark_signed_in(
    session: SessionBase, *, amr: tuple[str, ...], idp: str | None = None, mfa: str | None = None
) -> None:
    """Records the sign-in's methods and time (and for a federated one its provider and the
    second factor that counts); call right after `login()`."""
    session[AMR_KEY] = list(amr)
    session[AUTH_TIME_KEY] = int(time.time())
    # A new sign-in in the same session (the same user again) must not inherit the last one's.
    for key in (IDP_KEY, FED_MFA_KEY):
        session.pop(key, None)
    if idp is not None:
        session[IDP_KEY] = idp
        if mfa is not None:
            session[FED_MFA_KEY] = mfa


def session_amr(session: SessionBase | None) -> tuple[str, ...]:
    """What the session's sign-in proves, as a principal may claim it: `pwd`, `otp`, a
    passkey's `hwk`/`swk` (with `user` and `mfa`) for a local sign-in; `fed` plus `otp` (local
    code), a local passkey with `mfa`, or `mfa` (an MFA-enforcing provider) for a federated
    one, never an upstream value that was not checked here."""
    if session is None or not session.get(AMR_KEY):
        return ("pwd",)
    return checked_amr(session)


def checked_amr(data: Mapping[str, Any] | SessionBase) -> tuple[str, ...]:
    """`session_amr` of a session's data, empty when no one signed in (no `amr` recorded)."""
    amr = data.get(AMR_KEY)
    if not isinstance(amr, list) or not amr:
        return ()
    if FEDERATED in amr:
        if not data.get(IDP_KEY):
            return ()
        mfa = data.get(FED_MFA_KEY)
        if mfa in PASSKEY_AMR:
            return (FEDERATED, str(mfa), "mfa")
        return (FEDERATED, str(mfa)) if mfa in ("otp", "mfa") else (FEDERATED,)
    return tuple(str(value) for value in amr if value in LOCAL_AMR)


def session_sign_in_facts(session: SessionBase | None) -> tuple[tuple[str, ...], str | None]:
    """The sign-in's full `amr` (for a federated one `fed` and the upstream's values) and
    its identity provider, as tokens issued from the session carry them."""
    if session is None:
        return ("pwd",), None
    amr = tuple(str(value) for value in session.get(AMR_KEY) or ["pwd"])
    idp = session.get(IDP_KEY)
    return amr, idp if isinstance(idp, str) and FEDERATED in amr else None


def principal_for_session(user: User, session: SessionBase | None) -> Principal:
    """The principal of a session user, never claiming more than the sign-in proved."""
    auth_time = session.get(AUTH_TIME_KEY) if session is not None else None
    row_id = getattr(session, "dashboard_session_id", None)
    principal = principal_for_user(
        user,
        method="session",
        amr=session_amr(session),
        session_id=str(row_id) if row_id is not None else None,
        auth_time=auth_time if isinstance(auth_time, int) else None,
    )
    idp = session_sign_in_facts(session)[1]
    return replace(principal, idp=idp) if idp is not None else principal
