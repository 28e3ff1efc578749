"""The console's audit log: every event, filtered, newest first, paged by cursor."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.utils.dateparse import parse_datetime

from accounts import selectors as accounts
from audit.models import AuditEvent
from audit.selectors import audit_events_filtered, audit_events_page
from authn.web.console.access import console_view
from authn.web.console.forms import AuditFilterForm
from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid

PAGE_SIZE = 50


def encode_cursor(event: AuditEvent) -> str:
    """Where the next page starts: just after this event."""
    raw = f"{event.created_at.isoformat()}|{event.pk}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID] | None:
    """The (created_at, id) a cursor names; None for anything this page did not write."""
    if len(cursor) > 200:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, event_id = raw.partition("|")
        when = parse_datetime(at)
        if when is not None and when.tzinfo is not None:
            # An offset pushing the instant past year 9999 cannot be compared in UTC.
            when.astimezone(UTC)
    except (binascii.Error, UnicodeDecodeError, ValueError, OverflowError):
        return None
    parsed_id = parse_uuid(event_id)
    if when is None or when.tzinfo is None or parsed_id is None:
        return None
    return when, parsed_id


def _actor_id(form: AuditFilterForm) -> uuid.UUID | None:
    """The actor filter as a user id (a username is looked up); a form error if none matches."""
    value = form.cleaned_data["actor"].strip()
    if not value:
        return None
    parsed = parse_uuid(value)
    if parsed is not None:
        return parsed
    user = accounts.user_get_by_username(username=value)
    if user is None:
        form.add_error("actor", "No user with this username.")
        return None
    return user.pk


def _filters_of(params: QueryDict) -> str:
    """The query string of the filters given (no cursor): what the pager's links keep."""
    kept = params.copy()
    for name in list(kept):
        if name == "cursor" or not kept.get(name):
            del kept[name]
    return kept.urlencode()


@console_view
def audit_view(request: HttpRequest, actor: Principal) -> HttpResponse:
    """Audit events with filters (type, actor, subject, time range), PAGE_SIZE at a time."""
    form = AuditFilterForm(request.GET)
    events: list[AuditEvent] = []
    next_query = None
    if form.is_valid():
        actor_id = _actor_id(form)
        cursor = request.GET.get("cursor", "")
        before = decode_cursor(cursor) if cursor else None
        if cursor and before is None:
            form.add_error(None, "That page link is not valid; start from the first page.")
        if not form.errors:
            filtered = audit_events_filtered(
                type=form.cleaned_data["type"].strip() or None,
                actor_id=actor_id,
                subject_id=form.cleaned_data["subject"].strip() or None,
                since=form.cleaned_data["since"],
                until=form.cleaned_data["until"],
            )
            events = audit_events_page(filtered, before=before, limit=PAGE_SIZE + 1)
    filters = _filters_of(request.GET)
    if len(events) > PAGE_SIZE:
        events = events[:PAGE_SIZE]
        next_query = f"{filters}&cursor={encode_cursor(events[-1])}".lstrip("&")
    context = {
        "form": form,
        "events": events,
        "next_query": next_query,
        "first_query": filters,
        "paged": bool(request.GET.get("cursor")),
    }
    return render(request, "micro/console/audit.html", context, status=400 if form.errors else 200)
