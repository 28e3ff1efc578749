"""Groups and memberships API and group scopes flowing into tokens."""

from __future__ import annotations

import uuid

import jwt
import pytest
from django.core.exceptions import ValidationError as DjangoValidationError

from accounts.models import Group, Membership
from accounts.selectors import user_held_scopes
from accounts.services import group_scopes_set
from audit.models import AuditEvent
from tests.factories import DEFAULT_PASSWORD, GroupFactory, MembershipFactory

PROBLEM_TYPE = "application/problem+json"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"  # a well-formed id no user has


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith(PROBLEM_TYPE)
    return response.json()


def members_url(group: Group | str) -> str:
    return f"/api/v1/groups/{getattr(group, 'pk', group)}/members"


# --- GET /api/v1/groups -------------------------------------------------------------------


def test_admin_lists_every_group(admin_client, user):
    mine = MembershipFactory.create(user=user).group
    others = GroupFactory.create_batch(2)

    response = admin_client.get("/api/v1/groups")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "next"}
    assert {row["id"] for row in body["results"]} == {str(g.pk) for g in [mine, *others]}
    assert set(body["results"][0]) == {"id", "name", "scopes", "created_at"}


def test_ordinary_user_lists_only_their_own_groups(user_client, user):
    mine = MembershipFactory.create(user=user).group
    GroupFactory.create_batch(2)

    response = user_client.get("/api/v1/groups")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(mine.pk)]


def test_user_without_groups_lists_nothing(user_client):
    GroupFactory.create()

    response = user_client.get("/api/v1/groups")

    assert response.status_code == 200
    assert response.json() == {"results": [], "next": None}


def test_group_list_anonymous_is_401(anon_client, db):
    response = anon_client.get("/api/v1/groups")

    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


# --- POST /api/v1/groups ------------------------------------------------------------------


def test_admin_creates_a_group_with_catalogue_scopes(admin_client):
    response = admin_client.post(
        "/api/v1/groups", {"name": "editors", "scopes": ["users:write", "objects:read"]}
    )

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "editors"
    assert body["scopes"] == ["objects:read", "users:write"]
    assert Group.objects.filter(pk=body["id"], name="editors").exists()


def test_group_with_a_scope_outside_the_catalogue_is_400(admin_client):
    response = admin_client.post("/api/v1/groups", {"name": "root", "scopes": ["superpowers"]})

    body = assert_problem(response, 400)
    assert "scopes" in body["errors"]
    assert not Group.objects.filter(name="root").exists()


def test_group_name_is_unique_case_insensitively(admin_client):
    GroupFactory.create(name="Editors")

    response = admin_client.post("/api/v1/groups", {"name": "EDITORS"})

    body = assert_problem(response, 409)
    assert "name" in body["errors"]


def test_group_create_with_unknown_field_is_400(admin_client):
    response = admin_client.post("/api/v1/groups", {"name": "x", "members": []})

    body = assert_problem(response, 400)
    assert "members" in body["errors"]


def test_group_create_by_non_admin_is_403(user_client):
    response = user_client.post("/api/v1/groups", {"name": "mine", "scopes": ["api_admin"]})

    body = assert_problem(response, 403)
    assert body["code"] == "insufficient_scope"
    assert not Group.objects.filter(name="mine").exists()


def test_group_create_with_users_write_but_not_api_admin_is_403(client_for, admin_user):
    client = client_for(admin_user, scopes=frozenset({"users:write", "users:read"}))

    response = client.post("/api/v1/groups", {"name": "mine"})

    assert_problem(response, 403)


def test_group_create_anonymous_is_401(anon_client, db):
    response = anon_client.post("/api/v1/groups", {"name": "mine"})

    assert_problem(response, 401)
    assert not Group.objects.exists()


# --- POST /api/v1/groups/{id}/members -----------------------------------------------------


def test_admin_adds_a_member(admin_client, user):
    group = GroupFactory.create()

    response = admin_client.post(members_url(group), {"user_id": str(user.pk)})

    assert response.status_code == 201
    body = response.json()
    assert body["group_id"] == str(group.pk)
    assert body["user_id"] == str(user.pk)
    assert body["role"] == "member"
    assert Membership.objects.filter(group=group, user=user, role="member").exists()


def test_adding_an_existing_member_again_changes_their_role(admin_client, user):
    membership = MembershipFactory.create(user=user)

    response = admin_client.post(
        members_url(membership.group), {"user_id": str(user.pk), "role": "admin"}
    )

    assert response.status_code == 201
    assert Membership.objects.filter(group=membership.group, user=user).count() == 1
    membership.refresh_from_db()
    assert membership.role == "admin"


def test_group_admin_adds_a_member_to_their_group(user_client, user, other_user):
    group = MembershipFactory.create(user=user, role="admin").group

    response = user_client.post(members_url(group), {"user_id": str(other_user.pk)})

    assert response.status_code == 201
    assert Membership.objects.filter(group=group, user=other_user).exists()


def test_group_admin_of_another_group_is_403(user_client, user, other_user):
    MembershipFactory.create(user=user, role="admin")
    target = GroupFactory.create()

    response = user_client.post(members_url(target), {"user_id": str(other_user.pk)})

    assert_problem(response, 403)
    assert not Membership.objects.filter(group=target).exists()


def test_plain_member_cannot_add_members(user_client, user, other_user):
    group = MembershipFactory.create(user=user, role="member").group

    response = user_client.post(members_url(group), {"user_id": str(other_user.pk)})

    assert_problem(response, 403)
    assert not Membership.objects.filter(group=group, user=other_user).exists()


def test_plain_member_cannot_promote_themself(user_client, user):
    group = MembershipFactory.create(user=user, role="member").group

    response = user_client.post(members_url(group), {"user_id": str(user.pk), "role": "admin"})

    assert_problem(response, 403)
    assert Membership.objects.get(group=group, user=user).role == "member"


def test_add_member_anonymous_is_401(anon_client, user):
    group = GroupFactory.create()

    response = anon_client.post(members_url(group), {"user_id": str(user.pk)})

    assert_problem(response, 401)


@pytest.mark.parametrize("group_id", [UNKNOWN_ID, "not-a-uuid"])
def test_add_member_to_unknown_group_is_404(admin_client, user, group_id):
    response = admin_client.post(members_url(group_id), {"user_id": str(user.pk)})

    body = assert_problem(response, 404)
    assert body["code"] == "group_not_found"


def test_add_unknown_user_is_404(admin_client):
    group = GroupFactory.create()

    response = admin_client.post(members_url(group), {"user_id": str(uuid.uuid4())})

    assert_problem(response, 404)
    assert not Membership.objects.filter(group=group).exists()


@pytest.mark.parametrize("body", [{"user_id": "not-a-uuid"}, {"role": "member"}, {"user_id": None}])
def test_add_member_with_invalid_user_id_is_400(admin_client, body):
    response = admin_client.post(members_url(GroupFactory.create()), body)

    problem = assert_problem(response, 400)
    assert "user_id" in problem["errors"]


def test_add_member_with_invalid_role_is_400(admin_client, user):
    response = admin_client.post(
        members_url(GroupFactory.create()), {"user_id": str(user.pk), "role": "owner"}
    )

    problem = assert_problem(response, 400)
    assert "role" in problem["errors"]


# --- DELETE /api/v1/groups/{id}/members/{user_id} -----------------------------------------


def test_admin_removes_a_member(admin_client, user):
    group = MembershipFactory.create(user=user).group

    response = admin_client.delete(f"{members_url(group)}/{user.pk}")

    assert response.status_code == 204
    assert not Membership.objects.filter(group=group, user=user).exists()


def test_group_admin_removes_a_member(user_client, user, other_user):
    group = MembershipFactory.create(user=user, role="admin").group
    MembershipFactory.create(group=group, user=other_user)

    response = user_client.delete(f"{members_url(group)}/{other_user.pk}")

    assert response.status_code == 204
    assert not Membership.objects.filter(group=group, user=other_user).exists()


def test_plain_member_cannot_remove_members(user_client, user, other_user):
    group = MembershipFactory.create(user=user).group
    MembershipFactory.create(group=group, user=other_user)

    response = user_client.delete(f"{members_url(group)}/{other_user.pk}")

    assert_problem(response, 403)
    assert Membership.objects.filter(group=group, user=other_user).exists()


@pytest.mark.parametrize("user_id", [UNKNOWN_ID, "not-a-uuid"])
def test_removing_a_non_member_is_404(admin_client, user_id):
    group = GroupFactory.create()

    response = admin_client.delete(f"{members_url(group)}/{user_id}")

    body = assert_problem(response, 404)
    assert body["code"] == "member_not_found"


def test_remove_member_of_unknown_group_is_404(admin_client, user):
    response = admin_client.delete(f"{members_url(str(uuid.uuid4()))}/{user.pk}")

    assert_problem(response, 404)


def test_remove_member_anonymous_is_401(anon_client, user):
    group = MembershipFactory.create(user=user).group

    response = anon_client.delete(f"{members_url(group)}/{user.pk}")

    assert_problem(response, 401)
    assert Membership.objects.filter(group=group, user=user).exists()


# --- Group scopes in tokens ---------------------------------------------------------------


def claims_of(access_token: str) -> dict:
    return jwt.decode(access_token, options={"verify_signature": False})


def test_group_scopes_and_id_flow_into_a_new_token(admin_client, anon_client, user):
    group = GroupFactory.create(scopes=["users:write"])
    before = anon_client.post(
        "/api/v1/auth/token", {"username": user.username, "password": DEFAULT_PASSWORD}
    ).json()
    assert "users:write" not in before["scope"].split()

    added = admin_client.post(members_url(group), {"user_id": str(user.pk)})
    assert added.status_code == 201
    response = anon_client.post(
        "/api/v1/auth/token", {"username": user.username, "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 200
    body = response.json()
    assert "users:write" in body["scope"].split()
    claims = claims_of(body["access_token"])
    assert "users:write" in claims["scope"].split()
    assert str(group.pk) in claims["groups"]


def test_group_scope_lets_the_member_use_users_write_endpoints(client_for, user, other_user):
    MembershipFactory.create(user=user, group=GroupFactory.create(scopes=["users:write"]))

    response = client_for(user).get(f"/api/v1/users/{other_user.pk}")

    assert response.status_code == 200
    assert "email" in response.json()


def test_removed_member_no_longer_gets_the_group_scope(admin_client, anon_client, user):
    group = MembershipFactory.create(
        user=user, group=GroupFactory.create(scopes=["users:write"])
    ).group
    admin_client.delete(f"{members_url(group)}/{user.pk}")

    response = anon_client.post(
        "/api/v1/auth/token", {"username": user.username, "password": DEFAULT_PASSWORD}
    )

    assert response.status_code == 200
    claims = claims_of(response.json()["access_token"])
    assert "users:write" not in claims["scope"].split()
    assert claims["groups"] == []


def test_me_lists_the_callers_groups_with_roles(client_for, user):
    group = MembershipFactory.create(user=user, role="admin").group

    response = client_for(user).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["groups"] == [{"id": str(group.pk), "name": group.name, "role": "admin"}]


def test_group_admin_cannot_manage_members_of_an_api_admin_group(client_for, user, other_user):
    group = GroupFactory.create(scopes=["api_admin"])
    MembershipFactory.create(group=group, user=user, role=Membership.Role.ADMIN)

    response = client_for(user, frozenset({"profile"})).post(
        members_url(group), {"user_id": str(other_user.pk)}, format="json"
    )

    assert_problem(response, 403)
    assert not Membership.objects.filter(group=group, user=other_user).exists()


def test_api_admin_manages_members_of_an_api_admin_group(admin_client, other_user):
    group = GroupFactory.create(scopes=["api_admin"])

    response = admin_client.post(members_url(group), {"user_id": str(other_user.pk)}, format="json")

    assert response.status_code == 201


def test_group_scopes_set_changes_what_members_hold_and_is_audited_once(db):
    group = GroupFactory.create(scopes=[])
    member = MembershipFactory.create(group=group).user

    group_scopes_set(actor=None, group=group, scopes=["users:write"])
    group_scopes_set(actor=None, group=group, scopes=["users:write"])  # no change, no event

    assert "users:write" in user_held_scopes(user=member)
    assert AuditEvent.objects.filter(type="group.updated").count() == 1
    with pytest.raises(DjangoValidationError):
        group_scopes_set(actor=None, group=group, scopes=["billing:nothing"])


def test_group_scopes_set_compares_with_the_row_not_a_stale_copy(db):
    """Another administrator changed the scopes after this one read the group: setting the
    set this one read restores it (and audits that), instead of seeing no change."""
    group = GroupFactory.create(scopes=["users:read"])
    seen = Group.objects.get(pk=group.pk)
    group_scopes_set(actor=None, group=group, scopes=["users:write"])

    group_scopes_set(actor=None, group=seen, scopes=["users:read"])

    group.refresh_from_db()
    assert group.scopes == ["users:read"]
    assert AuditEvent.objects.filter(type="group.updated").count() == 2
