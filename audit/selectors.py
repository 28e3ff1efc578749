"""Reads of audit events: filtered for administrators, and a user's own."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Q, QuerySet

from audit.models import AuditEvent


def audit_events_filtered(
    *,
    type: str | None,
    actor_id: uuid.UUID | None,
    since: datetime | None,
    subject_id: str | None = None,
    until: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Every event, optionally by type, actor, subject (its id) and a time range: `created_at`
    at or after `since`, before `until`."""
    events = AuditEvent.objects.all()
    if type:
        events = events.filter(type=type)
    if actor_id is not None:
        events = events.filter(actor_id=actor_id)
    if subject_id:
        events = events.filter(subject_id=subject_id)
    if since is not None:
        events = events.filter(created_at__gte=since)
    if until is not None:
        events = events.filter(created_at__lt=until)
    return events


def audit_events_page(
    events: QuerySet[AuditEvent], *, before: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[AuditEvent]:
    """Up to `limit` of `events`, newest first, all older than the event `before` names
    (its `created_at` and id): a page that rows added meanwhile never shift."""
    ordered = events.order_by("-created_at", "-id")
    if before is not None:
        at, event_id = before
        ordered = ordered.filter(Q(created_at__lt=at) | Q(created_at=at, id__lt=event_id))
    return list(ordered[:limit])


def audit_events_of_user(*, user_id: uuid.UUID) -> QuerySet[AuditEvent]:
    """The events a user acted in or that concern their account (never anyone else's)."""
    return AuditEvent.objects.filter(
        Q(actor_id=user_id) | Q(subject_type="user", subject_id=str(user_id))
    )
