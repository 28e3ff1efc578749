"""Admin console: people's accounts."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connections, router
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.selectors import user_held_scopes
from audit.models import AuditEvent
from authn import lockout
from authn.api_keys.services import api_key_create
from authn.mfa.services import user_has_mfa
from authn.models import DashboardSession
from permissions.models import RoleAssignment
from permissions.registry import scope_create, service_create
from permissions.roles import role_assign, role_create
from tests.authn.dashboard_helpers import LOGIN_URL, PROFILE_URL, enrol_totp, sign_in
from tests.authn.web.conftest import PagedCheck
from tests.factories import GroupFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

USERS_URL = "/dashboard/admin/users/"


@pytest.fixture
def ines(db: object) -> User:
    return UserFactory.create(username="ines", email="ines@example.com", display_name="Inès")


def _pages(ines: User) -> list[str]:
    return [
        "/dashboard/admin/",
        USERS_URL,
        f"{USERS_URL}{ines.pk}/",
        f"{USERS_URL}{ines.pk}/deactivate",
        f"{USERS_URL}{ines.pk}/reactivate",
        f"{USERS_URL}{ines.pk}/unlock",
        f"{USERS_URL}{ines.pk}/mfa-reset",
        f"{USERS_URL}{ines.pk}/roles",
        f"{USERS_URL}{ines.pk}/roles/{uuid.uuid4()}/take",
    ]


def test_anonymous_is_sent_to_sign_in(client: Client, ines: User) -> None:
    for url in _pages(ines):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{LOGIN_URL}?next={quote(url)}"


def test_a_user_without_api_admin_gets_the_403_page(member_console: Client, ines: User) -> None:
    for url in _pages(ines):
        assert member_console.get(url).status_code == 403, url
        assert member_console.post(url, {"username": "x"}).status_code == 403, url
    ines.refresh_from_db()
    assert ines.is_active and not User.objects.filter(username="x").exists()


def test_the_console_link_shows_for_api_admin_only(
    admin_console: Client, member_console: Client
) -> None:
    assert "Admin console" in admin_console.get(PROFILE_URL).content.decode()
    assert "Admin console" not in member_console.get(PROFILE_URL).content.decode()


def test_the_console_link_reuses_the_scopes_the_page_already_read(admin_console: Client) -> None:
    """A page that built the signed-in principal does not read its groups and roles again
    for the link."""
    # Roles are read where they live: the grants database when it is a second one.
    with CaptureQueriesContext(connections[router.db_for_read(RoleAssignment)]) as queries:
        body = admin_console.get(USERS_URL).content.decode()
    assert "Admin console" in body
    reads = [q["sql"] for q in queries.captured_queries if '"permissions_role"' in q["sql"]]
    assert len(reads) == 1, reads


@pytest.mark.parametrize("query", ["INES", "example.com", "Inès"])
def test_users_are_found_by_username_email_or_name(
    admin_console: Client, ines: User, query: str
) -> None:
    UserFactory.create(username="zoe", email="zoe@other.test")
    body = admin_console.get(USERS_URL, {"q": query}).content.decode()
    assert f"{USERS_URL}{ines.pk}/" in body and "zoe" not in body


def test_the_user_list_is_paginated_and_keeps_the_search(admin_console: Client) -> None:
    for n in range(30):
        UserFactory.create(username=f"pat{n:02d}")
    first = admin_console.get(USERS_URL, {"q": "pat"}).content.decode()
    assert "pat00" in first and "pat29" not in first
    assert 'href="?q=pat&amp;page=2"' in first
    assert "pat29" in admin_console.get(USERS_URL, {"q": "pat", "page": "2"}).content.decode()


def test_an_admin_creates_a_user(admin_console: Client) -> None:
    response = admin_console.post(
        USERS_URL, {"username": "newbie", "email": "n@example.com", "password": ""}
    )
    user = User.objects.get(username="newbie")
    assert response.status_code == 302 and response["Location"] == f"{USERS_URL}{user.pk}/"
    assert not user.has_usable_password()
    assert AuditEvent.objects.filter(type="user.created", subject_id=str(user.pk)).exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"username": "ines"}, "A user with this username already exists."),
        ({"username": "bad name"}, "username"),
        ({"username": "weak", "password": "123"}, "This password is too short"),
    ],
)
def test_a_bad_user_is_refused_on_the_form(
    admin_console: Client, ines: User, fields: dict[str, str], message: str
) -> None:
    response = admin_console.post(USERS_URL, fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert User.objects.count() == 2  # ines and the administrator


def test_the_user_page_shows_sessions_keys_and_events(admin_console: Client, ines: User) -> None:
    api_key_create(owner=ines, name="ci key", scopes=["profile"], expires_in_days=5, actor=None)
    Client().post(LOGIN_URL, {"username": "ines", "password": "wrong"})
    sign_in(Client(), ines)
    body = admin_console.get(f"{USERS_URL}{ines.pk}/").content.decode()
    assert "ci key" in body and "mk_" in body
    assert "login.failed" in body and "login.succeeded" in body
    assert "ines@example.com" in body and "No live sessions." not in body


def test_deactivating_asks_to_confirm_and_reactivating_restores(
    admin_console: Client, ines: User
) -> None:
    url = f"{USERS_URL}{ines.pk}/deactivate"
    assert "Deactivate ines?" in admin_console.get(url).content.decode()
    ines.refresh_from_db()
    assert ines.is_active
    assert admin_console.post(url).status_code == 302
    ines.refresh_from_db()
    assert not ines.is_active
    assert admin_console.post(f"{USERS_URL}{ines.pk}/reactivate").status_code == 302
    ines.refresh_from_db()
    assert ines.is_active
    types = set(AuditEvent.objects.filter(subject_id=str(ines.pk)).values_list("type", flat=True))
    assert {"user.deactivated", "user.updated"} <= types


def test_unlock_lifts_a_lockout(
    admin_console: Client, ines: User, django_capture_on_commit_callbacks: Any
) -> None:
    lockout.lock(login=lockout.lockout_subject(login="ines", user_id=ines.pk))
    assert lockout.account_wait(login=lockout.lockout_subject(login="ines", user_id=ines.pk))
    assert admin_console.get(f"{USERS_URL}{ines.pk}/unlock").status_code == 302  # GET: no change
    assert AuditEvent.objects.filter(type="login.unlocked").count() == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert admin_console.post(f"{USERS_URL}{ines.pk}/unlock").status_code == 302
    assert not lockout.account_wait(login=lockout.lockout_subject(login="ines", user_id=ines.pk))
    assert AuditEvent.objects.filter(type="login.unlocked", subject_id=str(ines.pk)).exists()


def test_resetting_mfa_asks_to_confirm_first(admin_console: Client, ines: User) -> None:
    enrol_totp(ines)
    url = f"{USERS_URL}{ines.pk}/mfa-reset"
    assert "Reset two-factor authentication of ines?" in admin_console.get(url).content.decode()
    assert user_has_mfa(user=ines)
    assert admin_console.post(url).status_code == 302
    assert not user_has_mfa(user=ines)
    assert AuditEvent.objects.filter(type="mfa.removed", subject_id=str(ines.pk)).exists()


def test_user_changes_need_a_recent_code_for_an_admin_with_mfa(
    mfa_admin_console: Client, ines: User, later: Callable[[int], None]
) -> None:
    later(16)
    response = mfa_admin_console.post(f"{USERS_URL}{ines.pk}/deactivate")
    assert response.status_code == 403
    ines.refresh_from_db()
    assert ines.is_active
    assert mfa_admin_console.post(USERS_URL, {"username": "late"}).status_code == 403
    assert not User.objects.filter(username="late").exists()


def test_a_role_given_to_a_user_reaches_them_and_is_taken_after_confirming(
    admin_console: Client, ines: User
) -> None:
    billing = service_create(actor=None, name="billing")
    scope_create(actor=None, service=billing, name="billing:read")
    role = role_create(actor=None, name="clerk", scopes=["billing:read"])
    response = admin_console.post(f"{USERS_URL}{ines.pk}/roles", {"role": str(role.pk)})
    assert response.status_code == 302
    assert "billing:read" in user_held_scopes(user=ines)
    take = f"{USERS_URL}{ines.pk}/roles/{role.pk}/take"
    assert "Take the role “clerk” from ines?" in admin_console.get(take).content.decode()
    assert RoleAssignment.objects.filter(subject_id=ines.pk).exists()
    assert admin_console.post(take).status_code == 302
    assert "billing:read" not in user_held_scopes(user=ines)
    assert admin_console.post(f"{USERS_URL}{ines.pk}/roles", {"role": "x"}).status_code == 400


def _dashboard_session(user: User, ip_address: str) -> None:
    DashboardSession.objects.create(
        key_hash=hashlib.sha256(ip_address.encode()).hexdigest(),
        user=user,
        session_data="",
        expire_date=timezone.now() + timedelta(days=1),
        ip_address=ip_address,
    )


def test_the_user_page_pages_roles_sessions_and_keys_each_on_its_own(
    admin_console: Client, ines: User, two_per_page: PagedCheck
) -> None:
    url = f"{USERS_URL}{ines.pk}/"
    takes, keys, ips = [], [], []
    for n, name in enumerate(["alpha", "bravo", "charlie"]):
        role = role_create(actor=None, name=name, scopes=["users:read"])
        role_assign(actor=None, role=role, subject_type="user", subject_id=ines.pk)
        takes.append(f"{url}roles/{role.pk}/take")  # every role is offered in the give form
        api_key_create(owner=ines, name=f"key-{name}", scopes=["profile"], actor=None)
        keys.append(f"key-{name}")
        ips.append(f"192.0.2.{101 + n}")
        _dashboard_session(ines, ips[-1])
    two_per_page(admin_console, url, "roles_page", takes)
    two_per_page(admin_console, url, "keys_page", keys)
    two_per_page(admin_console, url, "sessions_page", ips)
    body = admin_console.get(url, {"keys_page": "2"}).content.decode()
    assert 'href="?keys_page=2&amp;roles_page=2#roles"' in body
    assert 'href="?keys_page=2&amp;sessions_page=2#sessions"' in body


def test_the_user_page_names_the_service_a_key_is_bound_to(
    admin_console: Client, ines: User
) -> None:
    service = service_create(actor=None, name="billing")
    scope_create(actor=None, service=service, name="billing:read")
    role = role_create(actor=None, name="clerk", scopes=["billing:read"])
    role_assign(actor=None, role=role, subject_type="user", subject_id=ines.pk)
    api_key_create(owner=ines, name="any", scopes=["profile"], actor=None)
    api_key_create(
        owner=ines, name="bound", scopes=["billing:read"], actor=None, resource="billing"
    )
    body = admin_console.get(f"{USERS_URL}{ines.pk}/").content.decode()
    assert body.count("for <code>billing</code> only") == 1


def test_the_user_page_pages_the_groups_too(
    admin_console: Client, ines: User, two_per_page: PagedCheck
) -> None:
    names = [f"group-{name}" for name in ["alpha", "bravo", "charlie"]]
    for name in names:
        MembershipFactory.create(user=ines, group=GroupFactory.create(name=name))
    two_per_page(admin_console, f"{USERS_URL}{ines.pk}/", "groups_page", names)
