"""Reads the dashboard's security page needs, each filtered to one user in the query."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEvent
from authn.models import DashboardSession

SIGN_IN_EVENT_TYPES = ("login.succeeded", "login.failed", "login.locked")


def dashboard_sessions_of(*, user_id: uuid.UUID) -> QuerySet[DashboardSession]:
    """The user's live dashboard sessions, most recently used first."""
    return DashboardSession.objects.filter(
        user_id=user_id, expire_date__gt=timezone.now()
    ).order_by("-last_seen_at")


def sign_in_events_of(*, user_id: uuid.UUID, limit: int = 20) -> list[AuditEvent]:
    """Recent sign-in successes and failures aimed at this user."""
    return list(
        AuditEvent.objects.filter(
            type__in=SIGN_IN_EVENT_TYPES, subject_type="user", subject_id=str(user_id)
        ).order_by("-created_at")[:limit]
    )
