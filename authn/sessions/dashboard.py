"""Ending dashboard sessions from the security page."""

from __future__ import annotations

import uuid

from django.db import transaction

from audit.services import audit_record
from authn.models import DashboardSession
from authn.sessions.store import dashboard_sessions_delete
from micro_platform.identity import Principal


def dashboard_session_revoke(
    *, actor: Principal, session_id: uuid.UUID, ip_address: str | None
) -> bool:
    """Deletes one of the actor's own sessions (its cookie stops working); False if none."""
    with transaction.atomic():
        deleted = dashboard_sessions_delete(
            DashboardSession.objects.filter(pk=session_id, user_id=actor.user_id)
        )
        if deleted:
            audit_record(
                type="session.revoked",
                actor=actor,
                subject_type="dashboard_session",
                subject_id=session_id,
                ip_address=ip_address,
            )
    return bool(deleted)
