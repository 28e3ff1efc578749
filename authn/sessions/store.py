"""Django session engine that stores only the SHA-256 of each session key.

A database dump therefore holds no usable session id; each row also records its user, client
IP, user agent and how the user signed in (`amr`) so a user can list and end their own
sessions.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.base import CreateError
from django.contrib.sessions.backends.db import SessionStore as DbSessionStore
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from authn.models import DashboardSession
from authn.sessions.proof import checked_amr
from authn.tokens import revocation


def session_key_hash(session_key: str) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest()


def _user_id(data: dict[str, Any]) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(data[SESSION_KEY]))
    except (KeyError, ValueError):
        return None


def dashboard_sessions_delete(sessions: QuerySet[DashboardSession]) -> int:
    """Deletes the sessions and revokes what the gateway minted for signed-in ones (their id
    is its `sid`), so signing out, ending a session or logout-all reaches those tokens too."""
    rows = list(sessions.values_list("pk", "user_id"))
    if not rows:
        return 0
    deleted, _ = DashboardSession.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    signed_in = [str(pk) for pk, user_id in rows if user_id is not None]
    if signed_in:
        revocation.revoke_families(family_ids=signed_in)
    return deleted


class SessionStore(DbSessionStore):
    """The database backend keyed by hash; `client` (ip, user agent) is set per request."""

    client: tuple[str | None, str] = (None, "")
    # The row's id once loaded: the `sid` of the gateway tokens minted for this session.
    dashboard_session_id: uuid.UUID | None = None

    @classmethod
    def get_model_class(cls) -> type[DashboardSession]:  # type: ignore[override]
        return DashboardSession

    def _get_session_from_db(self) -> Any:
        if not self.session_key:
            return None
        row = DashboardSession.objects.filter(
            key_hash=session_key_hash(self.session_key), expire_date__gt=timezone.now()
        ).first()
        if row is None:
            self._session_key = None
        else:
            self.dashboard_session_id = row.pk
        return row

    def exists(self, session_key: str) -> bool:
        return DashboardSession.objects.filter(key_hash=session_key_hash(session_key)).exists()

    def save(self, must_create: bool = False) -> None:
        if self.session_key is None:
            return self.create()
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]
        fields = {
            "session_data": self.encode(data),
            "expire_date": self.get_expiry_date(),
            "user_id": _user_id(data),
            "amr": list(checked_amr(data)),
            "last_seen_at": timezone.now(),
        }
        key_hash = session_key_hash(self.session_key)
        if must_create:
            self._insert(key_hash, fields)
        else:
            # A session ended during the request (logout-all, revoke, password change
            # elsewhere) stays ended: the update matches no row and nothing is recreated.
            DashboardSession.objects.filter(key_hash=key_hash).update(**fields)

    def _insert(self, key_hash: str, fields: dict[str, Any]) -> None:
        ip_address, user_agent = self.client
        try:
            with transaction.atomic():
                row = DashboardSession.objects.create(
                    key_hash=key_hash, ip_address=ip_address, user_agent=user_agent, **fields
                )
        except IntegrityError as exc:
            raise CreateError from exc
        # A new key (sign-in, cycle_key): tokens minted from here on name the new row.
        self.dashboard_session_id = row.pk

    def delete(self, session_key: str | None = None) -> None:
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        if session_key == self.session_key:
            self.dashboard_session_id = None
        dashboard_sessions_delete(
            DashboardSession.objects.filter(key_hash=session_key_hash(session_key))
        )

    @classmethod
    def clear_expired(cls) -> None:
        DashboardSession.objects.filter(expire_date__lt=timezone.now()).delete()
