"""Password checks shared by every sign-in path (token endpoint, RPC sessions, dashboard)."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import authenticate
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from authn.audit import audit_record

logger = logging.getLogger("micro.auth")


class InvalidCredentials(Exception):
    """Unknown user, wrong password or inactive account: indistinguishable on purpose."""


def password_check(*, username: str, password: str, method: str, ip_address: str | None) -> User:
    """The active user with this username (or email) and password; audits a failure.

    Unknown users cost the same password hash as wrong passwords (Django's ModelBackend).
    """
    user = authenticate(None, username=username, password=password)
    if isinstance(user, User):
        return user
    with transaction.atomic():
        audit_record(
            type="login.failed",
            actor=None,
            subject_type="username",
            subject_id=username[:150],
            ip_address=ip_address,
            data={"method": method},
        )
    logger.info("login.failed method=%s ip=%s", method, ip_address)
    raise InvalidCredentials()


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
