"""Admin console: the audit log, filtered and paged by cursor."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import quote

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import User
from audit.models import AuditEvent
from audit.services import audit_record
from tests.authn.dashboard_helpers import LOGIN_URL
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

AUDIT_URL = "/dashboard/admin/audit/"


@pytest.fixture
def ines(db: object) -> User:
    return UserFactory.create(username="ines")


def _shown(body: str) -> list[str]:
    return re.findall(r"<code>([a-z_.]+)</code></td>", body)


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    response = client.get(AUDIT_URL)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN_URL}?next={quote(AUDIT_URL)}"


def test_a_user_without_api_admin_gets_the_403_page(member_console: Client) -> None:
    response = member_console.get(AUDIT_URL)
    assert response.status_code == 403
    assert "login.succeeded" not in response.content.decode()


def test_events_are_filtered_by_type_actor_and_subject(
    admin_console: Client, console_admin: User, ines: User
) -> None:
    audit_record(type="user.updated", actor=ines.pk, subject_type="user", subject_id=ines.pk)
    audit_record(type="user.updated", actor=None, subject_type="user", subject_id=console_admin.pk)
    body = admin_console.get(AUDIT_URL, {"type": "user.updated"}).content.decode()
    assert _shown(body) == ["user.updated", "user.updated"]
    by_actor = admin_console.get(AUDIT_URL, {"actor": "ines"}).content.decode()
    assert _shown(by_actor) == ["user.updated"] and str(ines.pk) in by_actor
    by_id = admin_console.get(AUDIT_URL, {"actor": str(ines.pk)}).content.decode()
    assert _shown(by_id) == ["user.updated"]
    by_subject = admin_console.get(
        AUDIT_URL, {"subject": str(console_admin.pk), "type": "user.updated"}
    ).content.decode()
    assert _shown(by_subject) == ["user.updated"] and f"?actor={ines.pk}" not in by_subject


def test_events_are_filtered_by_time_range(admin_console: Client, ines: User) -> None:
    AuditEvent.objects.all().delete()
    audit_record(type="user.updated", actor=None, subject_type="user", subject_id=ines.pk)
    old = AuditEvent.objects.get()
    old.created_at = timezone.now() - timedelta(days=3)
    old.save(update_fields=["created_at"])
    audit_record(type="user.deactivated", actor=None, subject_type="user", subject_id=ines.pk)
    day_ago = (timezone.localtime() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    recent = admin_console.get(AUDIT_URL, {"since": day_ago, "type": ""}).content.decode()
    assert "user.deactivated" in _shown(recent) and "user.updated" not in _shown(recent)
    older = admin_console.get(AUDIT_URL, {"until": day_ago}).content.decode()
    assert _shown(older) == ["user.updated"]


def test_an_unknown_actor_or_a_bad_time_is_a_form_error(admin_console: Client) -> None:
    response = admin_console.get(AUDIT_URL, {"actor": "nobody"})
    assert response.status_code == 400
    assert "No user with this username." in response.content.decode()
    assert admin_console.get(AUDIT_URL, {"since": "yesterday"}).status_code == 400


def _cursor(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "x",
        "!!!",
        "MjAyNnxub3BlIQ",
        "bm90IGEgY3Vyc29y" * 20,
        _cursor(f"2026-01-01T00:00:00|{uuid.uuid4()}"),  # no zone
        _cursor(f"9999-12-31T23:59:59-14:00|{uuid.uuid4()}"),  # past year 9999 in UTC
        _cursor("2026-01-01T00:00:00+00:00|not-an-id"),
    ],
    # Named, not shown: a random id in a test's name differs between test workers.
    ids=["short", "not-base64", "no-separator", "long", "no-zone", "past-9999", "bad-id"],
)
def test_a_forged_cursor_is_a_400_not_an_error(admin_console: Client, cursor: str) -> None:
    response = admin_console.get(AUDIT_URL, {"cursor": cursor})
    assert response.status_code == 400
    assert "That page link is not valid" in response.content.decode()


def test_the_log_is_paged_by_cursor_keeping_the_filters(admin_console: Client, ines: User) -> None:
    for _ in range(60):
        audit_record(type="user.updated", actor=None, subject_type="user", subject_id=ines.pk)
    ids = list(
        AuditEvent.objects.filter(type="user.updated")
        .order_by("-created_at", "-id")
        .values_list("id", flat=True)
    )
    first = admin_console.get(AUDIT_URL, {"type": "user.updated"}).content.decode()
    assert len(_shown(first)) == 50
    match = re.search(r'href="\?([^"]+)">Older</a>', first)
    assert match is not None and "type=user.updated" in match.group(1)
    second = admin_console.get(f"{AUDIT_URL}?{match.group(1).replace('&amp;', '&')}")
    body = second.content.decode()
    assert _shown(body) == ["user.updated"] * 10
    assert "Older" not in body and ">Newest</a>" in body
    # Events written after the first page was read do not shift the second.
    audit_record(type="user.updated", actor=None, subject_type="user", subject_id=ines.pk)
    again = admin_console.get(f"{AUDIT_URL}?{match.group(1).replace('&amp;', '&')}")
    assert again.content.decode().count("user.updated</code>") == 10
    assert len(ids) == 60


def test_reading_the_log_needs_no_fresh_code(
    mfa_admin_console: Client, later: Callable[[int], None]
) -> None:
    later(16)
    assert mfa_admin_console.get(AUDIT_URL).status_code == 200
