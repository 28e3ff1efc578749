"""The audit trail in the admin: administrators list and read events, nobody adds, changes or
deletes one."""

from __future__ import annotations

from django.test import Client

from accounts.models import User
from audit.models import AuditEvent

EVENTS = "/admin/audit/auditevent/"


def _admin(admin_user: User) -> Client:
    browser = Client()
    browser.force_login(admin_user)
    return browser


def test_administrators_list_and_read_audit_events(admin_user: User) -> None:
    event = AuditEvent.objects.create(type="login.failed", subject_type="user", subject_id="s-1")
    browser = _admin(admin_user)

    listing = browser.get(EVENTS, secure=True)
    assert listing.status_code == 200
    assert b"login.failed" in listing.content
    assert browser.get(f"{EVENTS}{event.pk}/change/", secure=True).status_code == 200


def test_no_audit_event_is_added_changed_or_deleted_in_the_admin(admin_user: User) -> None:
    event = AuditEvent.objects.create(type="login.failed", subject_type="user", subject_id="s-1")
    browser = _admin(admin_user)

    assert browser.get(f"{EVENTS}add/", secure=True).status_code == 403
    assert (
        browser.post(f"{EVENTS}{event.pk}/delete/", {"post": "yes"}, secure=True).status_code == 403
    )
    browser.post(f"{EVENTS}{event.pk}/change/", {"type": "nothing.happened"}, secure=True)

    assert AuditEvent.objects.get().type == "login.failed"
