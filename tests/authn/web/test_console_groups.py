"""Admin console: groups, their members and roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.test import Client

from accounts.models import Group, Membership, User
from accounts.selectors import user_held_scopes
from audit.models import AuditEvent
from permissions.models import RoleAssignment
from permissions.registry import scope_create, service_create
from permissions.roles import role_assign, role_create
from tests.authn.dashboard_helpers import LOGIN_URL
from tests.authn.web.conftest import PagedCheck
from tests.factories import GroupFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

GROUPS_URL = "/dashboard/admin/groups/"


@pytest.fixture
def team() -> Group:
    return GroupFactory.create(name="team")


@pytest.fixture
def ines(team: Group) -> User:
    user = UserFactory.create(username="ines")
    MembershipFactory.create(group=team, user=user)
    return user


def _pages(team: Group, ines: User) -> list[str]:
    role = role_create(actor=None, name="reader", scopes=["users:read"])
    role_assign(actor=None, role=role, subject_type="group", subject_id=team.pk)
    return [
        GROUPS_URL,
        f"{GROUPS_URL}{team.pk}/",
        f"{GROUPS_URL}{team.pk}/scopes",
        f"{GROUPS_URL}{team.pk}/members",
        f"{GROUPS_URL}{team.pk}/members/{ines.pk}/remove",
        f"{GROUPS_URL}{team.pk}/roles",
        f"{GROUPS_URL}{team.pk}/roles/{role.pk}/take",
    ]


def test_anonymous_is_sent_to_sign_in(client: Client, team: Group, ines: User) -> None:
    for url in _pages(team, ines):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{LOGIN_URL}?next={quote(url)}"


def test_a_user_without_api_admin_gets_the_403_page(
    member_console: Client, team: Group, ines: User
) -> None:
    for url in _pages(team, ines):
        assert member_console.get(url).status_code == 403, url
        data = {"username": "x", "name": "x", "scopes": ["api_admin"], "confirmed": "on"}
        assert member_console.post(url, data).status_code == 403, url
    assert Membership.objects.filter(group=team, user=ines).exists()
    team.refresh_from_db()
    assert team.scopes == []
    assert RoleAssignment.objects.count() == 1


def test_an_admin_creates_a_group_with_scopes(admin_console: Client) -> None:
    response = admin_console.post(GROUPS_URL, {"name": "readers", "scopes": ["users:read"]})
    group = Group.objects.get(name="readers")
    assert response.status_code == 302
    assert response["Location"] == f"{GROUPS_URL}{group.pk}/"
    assert group.scopes == ["users:read"]
    assert AuditEvent.objects.filter(type="group.created").exists()


def test_a_duplicate_group_name_is_refused(admin_console: Client, team: Group) -> None:
    response = admin_console.post(GROUPS_URL, {"name": "TEAM"})
    assert response.status_code == 400
    assert "A group with this name already exists." in response.content.decode()


def test_an_admin_adds_a_member_by_username(admin_console: Client, team: Group) -> None:
    user = UserFactory.create(username="jo")
    url = f"{GROUPS_URL}{team.pk}/members"
    response = admin_console.post(url, {"username": "jo", "role": "member"})
    assert response.status_code == 302
    assert Membership.objects.filter(group=team, user=user, role="member").exists()
    assert AuditEvent.objects.filter(type="group.member_added").exists()
    response = admin_console.post(url, {"username": "nobody", "role": "member"})
    assert response.status_code == 400
    assert "No user with this username." in response.content.decode()


def test_removing_a_member_asks_to_confirm_first(
    admin_console: Client, team: Group, ines: User
) -> None:
    url = f"{GROUPS_URL}{team.pk}/members/{ines.pk}/remove"
    assert "Remove ines from “team”?" in admin_console.get(url).content.decode()
    assert Membership.objects.filter(group=team, user=ines).exists()
    assert admin_console.post(url).status_code == 302
    assert not Membership.objects.filter(group=team, user=ines).exists()
    assert AuditEvent.objects.filter(type="group.member_removed").exists()


def test_a_role_given_to_a_group_reaches_its_members_and_is_taken_after_confirming(
    admin_console: Client, team: Group, ines: User
) -> None:
    billing = service_create(actor=None, name="billing")
    scope_create(actor=None, service=billing, name="billing:read")
    role = role_create(actor=None, name="reader", scopes=["billing:read"])
    assert "billing:read" not in user_held_scopes(user=ines)
    body = admin_console.get(f"{GROUPS_URL}{team.pk}/").content.decode()
    assert f'<option value="{role.pk}">reader</option>' in body
    response = admin_console.post(f"{GROUPS_URL}{team.pk}/roles", {"role": str(role.pk)})
    assert response.status_code == 302
    assert "billing:read" in user_held_scopes(user=ines)
    take = f"{GROUPS_URL}{team.pk}/roles/{role.pk}/take"
    assert "Take the role “reader” from “team”?" in admin_console.get(take).content.decode()
    assert "billing:read" in user_held_scopes(user=ines)
    assert admin_console.post(take).status_code == 302
    assert "billing:read" not in user_held_scopes(user=ines)
    types = list(AuditEvent.objects.values_list("type", flat=True))
    assert "role.assigned" in types and "role.unassigned" in types


def test_giving_an_unknown_role_is_refused(admin_console: Client, team: Group) -> None:
    response = admin_console.post(f"{GROUPS_URL}{team.pk}/roles", {"role": "nope"})
    assert response.status_code == 400
    assert not RoleAssignment.objects.exists()


def _ticked(body: str) -> set[str]:
    """The scopes ticked on the group page's scopes form."""
    checkbox = r'<input type="checkbox" name="scopes" value="([^"]+)"[^>]* checked'
    return set(re.findall(checkbox, body))


def test_the_group_page_ticks_the_group_scopes_among_the_registry(
    admin_console: Client, team: Group
) -> None:
    billing = service_create(actor=None, name="billing")
    scope_create(actor=None, service=billing, name="billing:read")
    team.scopes = ["billing:read", "users:read"]
    team.save()
    body = admin_console.get(f"{GROUPS_URL}{team.pk}/").content.decode()
    assert _ticked(body) == {"billing:read", "users:read"}
    assert 'value="users:write"' in body


def test_adding_scopes_to_a_group_reaches_its_members_without_a_confirm_step(
    admin_console: Client, team: Group, ines: User
) -> None:
    url = f"{GROUPS_URL}{team.pk}/scopes"
    assert "users:write" not in user_held_scopes(user=ines)
    response = admin_console.post(url, {"scopes": ["users:write"]})
    assert response.status_code == 302
    assert response["Location"] == f"{GROUPS_URL}{team.pk}/"
    assert "users:write" in user_held_scopes(user=ines)
    event = AuditEvent.objects.get(type="group.updated", subject_id=str(team.pk))
    assert event.data == {"name": "team", "scopes": ["users:write"]}
    assert admin_console.post(url, {"scopes": ["users:write"]}).status_code == 302  # no change
    assert AuditEvent.objects.filter(type="group.updated").count() == 1


def test_taking_scopes_from_a_group_asks_to_confirm_then_members_lose_them(
    admin_console: Client, team: Group, ines: User
) -> None:
    team.scopes = ["users:read", "users:write"]
    team.save()
    url = f"{GROUPS_URL}{team.pk}/scopes"
    response = admin_console.post(url, {"scopes": ["users:read"]})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Take 1 scope(s) from “team”?" in body
    assert '<input type="hidden" name="scopes" value="users:read">' in body
    assert '<input type="hidden" name="confirmed" value="on">' in body
    assert "users:write" in user_held_scopes(user=ines)
    assert not AuditEvent.objects.filter(type="group.updated").exists()
    response = admin_console.post(url, {"scopes": ["users:read"], "confirmed": "on"})
    assert response.status_code == 302
    held = user_held_scopes(user=ines)
    assert "users:write" not in held and "users:read" in held
    team.refresh_from_db()
    assert team.scopes == ["users:read"]
    assert AuditEvent.objects.filter(type="group.updated").count() == 1


def test_taking_every_scope_from_a_group_is_confirmed_too(
    admin_console: Client, team: Group, ines: User
) -> None:
    team.scopes = ["users:write"]
    team.save()
    url = f"{GROUPS_URL}{team.pk}/scopes"
    assert "Take 1 scope(s)" in admin_console.post(url, {}).content.decode()
    assert admin_console.post(url, {"confirmed": "on"}).status_code == 302
    assert "users:write" not in user_held_scopes(user=ines)


def test_an_unregistered_group_scope_is_refused_on_the_form(
    admin_console: Client, team: Group
) -> None:
    url = f"{GROUPS_URL}{team.pk}/scopes"
    response = admin_console.post(url, {"scopes": ["billing:nothing"], "confirmed": "on"})
    assert response.status_code == 400
    assert "billing:nothing" in response.content.decode()
    team.refresh_from_db()
    assert team.scopes == []
    assert not AuditEvent.objects.filter(type="group.updated").exists()


def test_groups_and_members_are_paginated(admin_console: Client, team: Group) -> None:
    for n in range(30):
        GroupFactory.create(name=f"g{n:02d}")
        MembershipFactory.create(group=team, user=UserFactory.create(username=f"u{n:02d}"))
    first = admin_console.get(GROUPS_URL).content.decode()
    assert "g00" in first and "g29" not in first
    assert "g29" in admin_console.get(GROUPS_URL, {"page": 2}).content.decode()
    members = admin_console.get(f"{GROUPS_URL}{team.pk}/").content.decode()
    assert "u00" in members and "u29" not in members and 'rel="next"' in members
    assert "u29" in admin_console.get(f"{GROUPS_URL}{team.pk}/", {"page": 2}).content.decode()


def test_group_changes_need_a_recent_code_for_an_admin_with_mfa(
    mfa_admin_console: Client, team: Group, later: Callable[[int], None]
) -> None:
    user = UserFactory.create(username="jo")
    url = f"{GROUPS_URL}{team.pk}/members"
    later(16)
    response = mfa_admin_console.post(url, {"username": "jo", "role": "member"})
    assert response.status_code == 403
    assert "Sign in again with your code" in response.content.decode()
    assert not Membership.objects.filter(user=user).exists()
    response = mfa_admin_console.post(f"{GROUPS_URL}{team.pk}/scopes", {"scopes": ["users:read"]})
    assert response.status_code == 403
    team.refresh_from_db()
    assert team.scopes == []


def test_the_roles_of_a_group_are_paged_apart_from_its_members(
    admin_console: Client, team: Group, two_per_page: PagedCheck
) -> None:
    url = f"{GROUPS_URL}{team.pk}/"
    takes = []
    for name in ["alpha", "bravo", "charlie"]:
        role = role_create(actor=None, name=name, scopes=["users:read"])
        role_assign(actor=None, role=role, subject_type="group", subject_id=team.pk)
        takes.append(f"{url}roles/{role.pk}/take")  # every role is offered in the give form
        MembershipFactory.create(group=team, user=UserFactory.create(username=f"member-{name}"))
    two_per_page(admin_console, url, "roles_page", takes)
    two_per_page(admin_console, url, "page", ["member-alpha", "member-bravo", "member-charlie"])
    body = admin_console.get(url, {"page": "2"}).content.decode()
    assert 'href="?page=2&amp;roles_page=2#roles"' in body
    assert (
        'href="?roles_page=2&amp;page=2#members"'
        in admin_console.get(url, {"roles_page": "2"}).content.decode()
    )
