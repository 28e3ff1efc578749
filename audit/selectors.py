"""Reads of audit events: filtered for administrators, and a user's own."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

from audit.models import AuditEvent


def audit_events_filtered(
    *, type: str | None, actor_id: uuid.UUID | None, since: datetime | None
) -> QuerySet[AuditEvent]:
    """Every event, optionally by type, actor and a lower bound on `created_at`."""
    events = AuditEvent.objects.all()
    if type:
        events = events.filter(type=type)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if since is not None:
        events = events.filter(created_at__gte=since)
    return events


def audit_events_of_user(*, user_id: uuid.UUID) -> QuerySet[AuditEvent]:
    """The events a user acted in or that concern their account (never anyone else's)."""
    return AuditEvent.objects.filter(
        Q(actor_id=user_id) | Q(subject_type="user", subject_id=str(user_id))
    )
