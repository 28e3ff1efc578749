"""Password checks shared by every sign-in path (token endpoint, RPC sessions, dashboard)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.backends import login_verify
from accounts.models import User
from authn.audit import audit_record

logger = logging.getLogger("micro.auth")


class InvalidCredentials(Exception):
    """Unknown user, wrong password or inactive account: indistinguishable on purpose."""


def password_check(*, username: str, password: str, method: str, ip_address: str | None) -> User:
    """The active user with this username (or email) and password; audits a failure.

    Unknown users cost the same password hash as wrong passwords.
    """
    user, ok = login_verify(login=username, password=password)
    if ok and user is not None:
        return user
    subject_type, subject_id = _failed_login_subject(username, user)
    with transaction.atomic():
        audit_record(
            type="login.failed",
            actor=None,
            subject_type=subject_type,
            subject_id=subject_id,
            ip_address=ip_address,
            data={"method": method},
        )
    logger.info("login.failed method=%s ip=%s", method, ip_address)
    raise InvalidCredentials()


def _failed_login_subject(attempted: str, user: User | None) -> tuple[str, str]:
    """Who a failed sign-in was aimed at, without storing what was typed.

    People type their password into the name field; only a known account's id, or a digest
    of an unknown name (enough to correlate a guessing run), reaches the audit table.
    """
    if user is not None:
        return "user", str(user.pk)
    digest = hashlib.sha256(attempted.strip().lower().encode()).hexdigest()[:16]
    return "unknown_login", f"sha256:{digest}"


def sign_in_record(
    *, user: User, method: str, ip_address: str | None, data: dict[str, Any]
) -> None:
    """Stamps `last_login` and audits the sign-in; call inside the sign-in's transaction."""
    User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    audit_record(
        type="login.succeeded",
        actor=user.pk,
        subject_type="user",
        subject_id=user.pk,
        ip_address=ip_address,
        data={"method": method, **data},
    )
    transaction.on_commit(
        lambda: logger.info("login.succeeded user=%s method=%s ip=%s", user.pk, method, ip_address)
    )
