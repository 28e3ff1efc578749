"""Roles given to groups and users: only api_admin gives them, and what a role gives reaches the
next token, API-key verify and dashboard request, and leaves them when taken away."""

from __future__ import annotations

import uuid

import pytest

from accounts.models import Membership
from audit.models import AuditEvent
from authn.api_keys.services import api_key_create
from permissions import registry, roles
from permissions.models import RoleAssignment
from tests.factories import DEFAULT_PASSWORD, GroupFactory, MembershipFactory

pytestmark = pytest.mark.django_db(databases="__all__")
PROBLEM = "application/problem+json"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


@pytest.fixture
def clerk(db):
    service = registry.service_create(actor=None, name="billing")
    registry.scope_create(actor=None, service=service, name="billing:read")
    return roles.role_create(actor=None, name="billing-clerk", scopes=["billing:read"])


def token_scopes(anon_client, user) -> list[str]:
    response = anon_client.post(
        "/api/v1/auth/token", {"username": user.username, "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 200, response.content
    return response.json()["scope"].split()


def test_a_role_given_to_a_group_reaches_a_member_s_next_token_and_leaves_it(
    admin_client,
    admin_user,
    anon_client,
    session_client,
    user,
    clerk,
    commits_everywhere,
):
    group = MembershipFactory.create(user=user).group
    key = api_key_create(owner=user, name="k", scopes=["profile"], actor=None)
    url = f"/api/v1/groups/{group.pk}/roles"
    assert "billing:read" not in token_scopes(anon_client, user)

    given = admin_client.post(url, {"role_id": str(clerk.pk)}, format="json")

    assert given.status_code == 201, given.content
    assert given.json()["name"] == "billing-clerk"
    assert "billing:read" in token_scopes(anon_client, user)
    minted = api_key_create(owner=user, name="billing", scopes=["billing:read"], actor=None)
    gateway = anon_client.get(
        "/api/v1/auth/verify?scope=billing:read", HTTP_AUTHORIZATION=f"Bearer {minted.key}"
    )
    assert gateway.status_code == 200, gateway.content
    dashboard = session_client(user)
    assert "billing:read" in dashboard.get("/api/v1/me").json()["scopes"]
    event = AuditEvent.objects.get(type="role.assigned")
    assert (event.actor_id, event.data["subject_id"]) == (admin_user.pk, str(group.pk))

    with commits_everywhere():  # cached keys are re-read on commit
        taken = admin_client.delete(f"{url}/{clerk.pk}")

    assert taken.status_code == 204
    assert "billing:read" not in token_scopes(anon_client, user)
    refused = anon_client.get(
        "/api/v1/auth/verify?scope=billing:read", HTTP_AUTHORIZATION=f"Bearer {minted.key}"
    )
    assert problem(refused, 403)
    assert "billing:read" not in dashboard.get("/api/v1/me").json()["scopes"]
    assert key.api_key.pk  # an unrelated key is untouched
    assert AuditEvent.objects.filter(type="role.unassigned").count() == 1


def test_a_role_given_to_a_user_reaches_their_next_token(admin_client, anon_client, user, clerk):
    url = f"/api/v1/users/{user.pk}/roles"

    first = admin_client.post(url, {"role_id": str(clerk.pk)}, format="json")
    again = admin_client.post(url, {"role_id": str(clerk.pk)}, format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert RoleAssignment.objects.filter(subject_id=user.pk).count() == 1
    assert AuditEvent.objects.filter(type="role.assigned").count() == 1
    assert "billing:read" in token_scopes(anon_client, user)
    assert [row["id"] for row in admin_client.get(url).json()["results"]] == [str(clerk.pk)]

    assert admin_client.delete(f"{url}/{clerk.pk}").status_code == 204
    assert "billing:read" not in token_scopes(anon_client, user)
    assert problem(admin_client.delete(f"{url}/{clerk.pk}"), 404)["code"] == "role_not_given"


def test_a_group_s_own_admin_cannot_give_it_a_role(client_for, user, clerk):
    group = MembershipFactory.create(user=user, role=Membership.Role.ADMIN).group
    roles.role_assign(actor=None, role=clerk, subject_type="group", subject_id=group.pk)
    client = client_for(user)
    url = f"/api/v1/groups/{group.pk}/roles"

    given = client.post(url, {"role_id": str(clerk.pk)}, format="json")
    taken = client.delete(f"{url}/{clerk.pk}")
    to_self = client.post(f"/api/v1/users/{user.pk}/roles", {"role_id": str(clerk.pk)})

    for response in (given, taken, to_self):
        assert problem(response, 403)["code"] == "insufficient_scope"
    assert RoleAssignment.objects.filter(subject_id=group.pk).exists()
    assert not RoleAssignment.objects.filter(subject_id=user.pk).exists()


def test_unknown_role_is_a_400_and_unknown_group_or_user_a_404(admin_client, clerk):
    group = GroupFactory.create()
    unknown = {"role_id": str(uuid.uuid4())}

    bad_role = admin_client.post(f"/api/v1/groups/{group.pk}/roles", unknown, format="json")
    bad_group = admin_client.post(
        f"/api/v1/groups/{uuid.uuid4()}/roles", {"role_id": str(clerk.pk)}, format="json"
    )
    bad_user = admin_client.post(
        f"/api/v1/users/{uuid.uuid4()}/roles", {"role_id": str(clerk.pk)}, format="json"
    )
    not_given = admin_client.delete(f"/api/v1/groups/{group.pk}/roles/{clerk.pk}")

    assert problem(bad_role, 400)["errors"]["role_id"] == ["No role with this id."]
    assert problem(bad_group, 404)["code"] == "group_not_found"
    assert problem(bad_user, 404)["code"] == "user_not_found"
    assert problem(not_given, 404)["code"] == "role_not_given"


def test_a_group_s_roles_are_read_by_its_members_only(client_for, user, other_user, clerk):
    group = MembershipFactory.create(user=user).group
    roles.role_assign(actor=None, role=clerk, subject_type="group", subject_id=group.pk)
    url = f"/api/v1/groups/{group.pk}/roles"

    mine = client_for(user).get(url)
    theirs = client_for(other_user).get(url)

    assert [row["name"] for row in mine.json()["results"]] == ["billing-clerk"]
    assert problem(theirs, 404)["code"] == "group_not_found"


def test_a_user_s_roles_are_read_by_the_user_and_api_admin(client_for, user, other_user, clerk):
    roles.role_assign(actor=None, role=clerk, subject_type="user", subject_id=user.pk)
    url = f"/api/v1/users/{user.pk}/roles"

    assert client_for(user).get(url).json()["results"][0]["name"] == "billing-clerk"
    assert problem(client_for(other_user).get(url), 403)["code"] == "not_allowed"


def test_users_write_cannot_join_a_group_whose_role_grants_api_admin(client_for, user):
    # users:write manages ordinary groups; a group made administrators by a role is api_admin's,
    # as one holding api_admin among its own scopes is: joining it would make an administrator.
    MembershipFactory.create(user=user, group__scopes=["users:write"])
    admins = roles.role_create(actor=None, name="admins", scopes=["api_admin"])
    group = GroupFactory.create()
    roles.role_assign(actor=None, role=admins, subject_type="group", subject_id=group.pk)

    response = client_for(user).post(
        f"/api/v1/groups/{group.pk}/members", {"user_id": str(user.pk)}, format="json"
    )

    assert problem(response, 403)
    assert not Membership.objects.filter(group=group, user=user).exists()
