"""Roles API: named sets of scopes, read with users:read, created and changed by api_admin."""

from __future__ import annotations

import uuid

import pytest

from audit.models import AuditEvent
from permissions import registry, roles
from permissions.models import Role, RoleAssignment
from permissions.roles import ROLE_NAME_PATTERN

pytestmark = pytest.mark.django_db(databases="__all__")
PROBLEM = "application/problem+json"
ROLES = "/api/v1/roles"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


@pytest.fixture
def billing_read(db) -> str:
    service = registry.service_create(actor=None, name="billing")
    return registry.scope_create(actor=None, service=service, name="billing:read").name


def test_api_admin_creates_a_role_from_scopes_of_any_service(
    admin_client, admin_user, billing_read
):
    response = admin_client.post(
        ROLES,
        {"name": "billing-clerk", "scopes": ["users:read", billing_read], "description": "Clerks"},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "name", "description", "scopes", "created_at", "updated_at"}
    assert body["scopes"] == ["billing:read", "users:read"]
    event = AuditEvent.objects.get(type="role.created")
    assert (event.actor_id, event.data["scopes"]) == (admin_user.pk, body["scopes"])


def test_a_person_reads_the_roles(admin_client, user_client, billing_read):
    role = roles.role_create(actor=None, name="clerk", scopes=[billing_read])

    listed = user_client.get(ROLES)
    one = user_client.get(f"{ROLES}/{role.pk}")

    assert [row["name"] for row in listed.json()["results"]] == ["clerk"]
    assert listed.json()["next"] is None
    assert one.json()["scopes"] == ["billing:read"]


def test_reading_roles_needs_users_read(client_for, user):
    response = client_for(user, frozenset({"objects:read"})).get(ROLES)

    assert problem(response, 403)["code"] == "insufficient_scope"


def test_only_api_admin_changes_roles(user_client, billing_read):
    role = roles.role_create(actor=None, name="clerk", scopes=[billing_read])

    created = user_client.post(ROLES, {"name": "x", "scopes": []}, format="json")
    changed = user_client.patch(f"{ROLES}/{role.pk}", {"scopes": []}, format="json")
    deleted = user_client.delete(f"{ROLES}/{role.pk}")

    for response in (created, changed, deleted):
        assert problem(response, 403)["code"] == "insufficient_scope"
    assert Role.objects.get(pk=role.pk).scopes == ["billing:read"]


@pytest.mark.parametrize("name", ["Clerk", "1clerk", "", "c" * 64, "clerk role"])
def test_a_bad_role_name_is_a_400_naming_the_pattern(admin_client, name):
    body = problem(admin_client.post(ROLES, {"name": name, "scopes": []}, format="json"), 400)

    assert ROLE_NAME_PATTERN in body["errors"]["name"][0] or name == ""


def test_a_role_with_an_unknown_scope_is_a_403(admin_client):
    response = admin_client.post(
        ROLES, {"name": "clerk", "scopes": ["billing:read"]}, format="json"
    )

    assert "billing:read" in problem(response, 403)["errors"]["scopes"][0]
    assert not Role.objects.exists()


def test_a_duplicate_role_is_a_409(admin_client):
    roles.role_create(actor=None, name="clerk", scopes=[])

    response = admin_client.post(ROLES, {"name": "clerk", "scopes": []}, format="json")

    assert problem(response, 409)["code"] == "duplicate"


def test_api_admin_changes_a_role_but_never_its_name(admin_client, billing_read):
    role = roles.role_create(actor=None, name="clerk", scopes=[])
    url = f"{ROLES}/{role.pk}"

    renamed = admin_client.patch(url, {"name": "boss"}, format="json")
    changed = admin_client.patch(url, {"scopes": [billing_read], "description": "d"}, format="json")
    unknown = admin_client.patch(url, {"scopes": ["orders:read"]}, format="json")

    assert problem(renamed, 400)["code"] == "immutable"
    assert changed.status_code == 200
    assert (changed.json()["scopes"], changed.json()["description"]) == (["billing:read"], "d")
    assert problem(unknown, 403)["errors"]["scopes"]
    assert AuditEvent.objects.get(type="role.updated").data["fields"] == ["description", "scopes"]


def test_api_admin_deletes_a_role_and_its_assignments(admin_client):
    role = roles.role_create(actor=None, name="clerk", scopes=[])
    roles.role_assign(actor=None, role=role, subject_type="user", subject_id=uuid.uuid4())

    response = admin_client.delete(f"{ROLES}/{role.pk}")

    assert response.status_code == 204
    assert not RoleAssignment.objects.exists()
    assert AuditEvent.objects.get(type="role.deleted").data["assignments"] == 1
    assert problem(admin_client.get(f"{ROLES}/{role.pk}"), 404)["code"] == "role_not_found"
