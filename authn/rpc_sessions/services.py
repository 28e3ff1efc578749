"""Sessions of the Micro RPC facade: the id is a bearer secret, stored only as its SHA-256."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from authn.mfa.services import mfa_sign_in_step
from authn.models import Session
from authn.sign_in.services import password_check, sign_in_confirm, sign_in_record
from authn.tokens.services import hash_secret

SESSION_PREFIX = "mss_"


@dataclass(frozen=True)
class SessionView:
    """What the facade shows of a session; `id` is the secret itself, known only to its holder."""

    id: str
    user_id: str
    created: datetime
    expires: datetime


def session_login(
    *, username: str, password: str, ip_address: str | None, otp: str | None = None
) -> SessionView:
    """Checks the password (then the code, for MFA users) and opens a session.

    The same failure for every wrong credential; a wrong password never reveals MFA.
    """
    user = password_check(
        username=username, password=password, method="session", ip_address=ip_address
    )
    amr = mfa_sign_in_step(user=user, otp=otp, ip_address=ip_address)
    secret = SESSION_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        sign_in_confirm(user=user)
        session = Session.objects.create(
            user=user,
            secret_hash=hash_secret(secret),
            expires_at=now + timedelta(seconds=settings.MICRO_SESSION_TTL),
        )
        sign_in_record(
            user=user,
            method="session",
            ip_address=ip_address,
            data={"session": str(session.pk), "amr": list(amr)},
            confirmed=True,
        )
    return SessionView(secret, str(user.pk), session.created_at, session.expires_at)


def session_get(*, secret: str) -> Session | None:
    """The live session for this secret, or None (unknown, expired, revoked, user inactive)."""
    if not isinstance(secret, str) or not secret.startswith(SESSION_PREFIX) or len(secret) > 128:
        return None
    session = Session.objects.select_related("user").filter(secret_hash=hash_secret(secret)).first()
    if session is None or session.revoked_at is not None:
        return None
    if session.expires_at <= timezone.now() or not session.user.is_active:
        return None
    return session


def session_view(*, session: Session, secret: str) -> SessionView:
    return SessionView(secret, str(session.user_id), session.created_at, session.expires_at)


def session_logout(*, secret: str, ip_address: str | None) -> bool:
    """Ends the session; False when there was no live session with that secret."""
    session = session_get(secret=secret)
    if session is None:
        return False
    with transaction.atomic():
        Session.objects.filter(pk=session.pk).update(revoked_at=timezone.now())
        audit_record(
            type="token.revoked",
            actor=session.user_id,
            subject_type="session",
            subject_id=session.pk,
            ip_address=ip_address,
        )
    return True
