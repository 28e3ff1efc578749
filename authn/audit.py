"""Audit events: recorded inside the caller's transaction, never carrying a secret."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from authn.models import AuditEvent
from authn.principal import Principal

logger = logging.getLogger("micro.audit")

# Keys that must never reach an event; a service that passes one is a bug, so fail loudly.
_FORBIDDEN_KEYS = frozenset(
    {"password", "secret", "token", "refresh_token", "access_token", "key", "otp", "session_id"}
)


def audit_record(
    *,
    type: str,
    actor: Principal | uuid.UUID | None,
    subject_type: str = "",
    subject_id: str | uuid.UUID = "",
    ip_address: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Writes one event in the current transaction; raises on secret-looking data keys."""
    payload = dict(data or {})
    leaked = _FORBIDDEN_KEYS & set(payload)
    if leaked:
        raise ValueError(f"audit data must not carry secrets: {sorted(leaked)}")
    actor_id = actor.user_id if isinstance(actor, Principal) else actor
    # Untrusted strings (an attempted username) may hold NUL, which PostgreSQL refuses.
    subject_id = str(subject_id).replace("\x00", "")[:255]
    event = AuditEvent.objects.create(
        type=type,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        ip_address=ip_address,
        data=payload,
    )
    transaction.on_commit(
        lambda: logger.info(
            "audit type=%s actor=%s subject=%s:%s",
            type,
            actor_id,
            subject_type,
            subject_id,
        )
    )
    return event
