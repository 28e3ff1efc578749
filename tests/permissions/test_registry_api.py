"""Scope registry API: services and their scopes, read by anyone signed in, changed by api_admin."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from audit.models import AuditEvent
from authn.api_keys.services import api_key_create
from authn.models import ApiKey
from micro_platform.scopes import SCOPE_NAME_PATTERN, SERVICE_NAME_PATTERN
from permissions import catalogue, roles
from permissions.models import Role, Scope, Service
from tests.factories import GroupFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")
PROBLEM = "application/problem+json"
SERVICES = "/api/v1/services"


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    return response.json()


def billing(admin_client, *scopes: str) -> dict:
    created = admin_client.post(SERVICES, {"name": "billing", "description": "Invoices"})
    assert created.status_code == 201, created.content
    for name in scopes:
        url = f"{SERVICES}/{created.json()['id']}/scopes"
        assert admin_client.post(url, {"name": name}).status_code == 201
    return admin_client.get(f"{SERVICES}/{created.json()['id']}").json()


def test_api_admin_registers_a_service_and_its_scopes(admin_client, admin_user):
    service = billing(admin_client, "billing:read")

    assert set(service) == {
        "id",
        "name",
        "audience",
        "description",
        "built_in",
        "scopes",
        "created_at",
        "updated_at",
    }
    assert (service["name"], service["audience"], service["built_in"]) == (
        "billing",
        "billing",
        False,
    )
    assert service["scopes"] == [{"name": "billing:read", "description": ""}]
    assert "billing:read" in catalogue.all_scopes()
    events = AuditEvent.objects.filter(actor_id=admin_user.pk).values_list("type", flat=True)
    assert sorted(events) == ["scope.created", "service.created"]


def test_any_signed_in_caller_reads_the_registry(admin_client, user_client):
    service = billing(admin_client, "billing:read")

    listed = user_client.get(SERVICES)
    one = user_client.get(f"{SERVICES}/{service['id']}")
    scopes = user_client.get("/api/v1/scopes", {"service": "billing"})

    assert listed.status_code == 200
    assert set(listed.json()) == {"results", "next"}
    assert {row["name"] for row in listed.json()["results"]} == {"micro", "billing"}
    assert one.json() == service
    assert scopes.json()["results"] == [
        {
            "name": "billing:read",
            "description": "",
            "service": "billing",
            "service_id": service["id"],
            "created_at": scopes.json()["results"][0]["created_at"],
        }
    ]


def test_every_scope_is_listed_with_its_service(user_client):
    response = user_client.get("/api/v1/scopes", {"page_size": 100})

    assert response.status_code == 200
    by_name = {row["name"]: row["service"] for row in response.json()["results"]}
    assert by_name["api_admin"] == "micro"
    assert by_name["users:read"] == "micro"


def test_reading_the_registry_needs_a_credential(anon_client, db):
    assert problem(anon_client.get("/api/v1/scopes"), 401)["code"]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", SERVICES, {"name": "billing"}),
        ("patch", f"{SERVICES}/{{id}}", {"description": "x"}),
        ("delete", f"{SERVICES}/{{id}}", None),
        ("post", f"{SERVICES}/{{id}}/scopes", {"name": "billing:write"}),
        ("patch", f"{SERVICES}/{{id}}/scopes/billing:read", {"description": "x"}),
        ("delete", f"{SERVICES}/{{id}}/scopes/billing:read", None),
    ],
)
def test_only_api_admin_changes_the_registry(admin_client, user_client, method, path, body):
    service = billing(admin_client, "billing:read")
    url = path.replace("{id}", service["id"])

    response = getattr(user_client, method)(url, body, format="json")

    assert problem(response, 403)["code"] == "insufficient_scope"
    assert admin_client.get(f"{SERVICES}/{service['id']}").json() == service


@pytest.mark.parametrize("name", ["Billing", "1billing", "billing:read", "", "b" * 64, " billing"])
def test_a_bad_service_name_is_a_400_naming_the_pattern(admin_client, name):
    body = problem(admin_client.post(SERVICES, {"name": name}), 400)

    assert SERVICE_NAME_PATTERN in " ".join(body["errors"]["name"]) or name == ""
    assert not Service.objects.filter(name=name).exists()


@pytest.mark.parametrize("name", ["billing:Read", "billing:", "BILLING:read", "billing:read x"])
def test_a_bad_scope_name_is_a_400_naming_the_pattern(admin_client, name):
    service = billing(admin_client)

    body = problem(admin_client.post(f"{SERVICES}/{service['id']}/scopes", {"name": name}), 400)

    assert SCOPE_NAME_PATTERN in body["errors"]["name"][0]


def test_a_scope_of_another_service_is_a_400(admin_client):
    service = billing(admin_client)

    body = problem(
        admin_client.post(f"{SERVICES}/{service['id']}/scopes", {"name": "orders:read"}), 400
    )

    assert "billing:<action>" in body["errors"]["name"][0]


def test_duplicates_are_409(admin_client):
    service = billing(admin_client, "billing:read")
    scopes_url = f"{SERVICES}/{service['id']}/scopes"

    assert problem(admin_client.post(SERVICES, {"name": "billing"}), 409)["code"] == "duplicate"
    taken = admin_client.post(SERVICES, {"name": "invoices", "audience": "billing"})
    assert problem(taken, 409)["code"] == "audience_taken"
    assert problem(admin_client.post(scopes_url, {"name": "billing:read"}), 409)["code"] == (
        "duplicate"
    )


def test_names_never_change(admin_client):
    service = billing(admin_client, "billing:read")
    url = f"{SERVICES}/{service['id']}"

    renamed = admin_client.patch(url, {"name": "orders"}, format="json")
    scope_renamed = admin_client.patch(
        f"{url}/scopes/billing:read", {"name": "billing:get"}, format="json"
    )

    assert problem(renamed, 400)["errors"]["name"] == ["Names never change once created."]
    assert problem(scope_renamed, 400)["code"] == "immutable"
    assert Service.objects.filter(name="billing").exists()


def test_api_admin_describes_a_service_and_a_scope(admin_client):
    service = billing(admin_client, "billing:read")
    url = f"{SERVICES}/{service['id']}"

    changed = admin_client.patch(url, {"audience": "https://billing.example"}, format="json")
    described = admin_client.patch(f"{url}/scopes/billing:read", {"description": "Read bills"})

    assert changed.status_code == 200
    assert changed.json()["audience"] == "https://billing.example"
    assert described.json()["description"] == "Read bills"
    assert catalogue.current().scopes["billing:read"].description == "Read bills"
    assert AuditEvent.objects.filter(type__in=["service.updated", "scope.updated"]).count() == 2


def test_unknown_fields_are_a_400(admin_client):
    body = problem(admin_client.post(SERVICES, {"name": "billing", "owner": "me"}), 400)

    assert body["errors"] == {"owner": ["Unknown field."]}


def test_the_built_in_service_is_the_code_s(admin_client):
    micro = Service.objects.get(name="micro")
    url = f"{SERVICES}/{micro.pk}"

    assert problem(admin_client.delete(url), 409)["code"] == "built_in"
    assert problem(admin_client.post(f"{url}/scopes", {"name": "micro:x"}), 409)["code"] == (
        "built_in"
    )
    assert problem(admin_client.delete(f"{url}/scopes/profile"), 409)["code"] == "built_in"
    assert admin_client.get(url).json()["built_in"] is True


def test_unknown_service_or_scope_is_a_404(admin_client):
    service = billing(admin_client)

    assert problem(admin_client.get(f"{SERVICES}/{uuid.uuid4()}"), 404)["code"] == (
        "service_not_found"
    )
    assert problem(admin_client.get(f"{SERVICES}/not-an-id"), 404)
    gone = admin_client.delete(f"{SERVICES}/{service['id']}/scopes/billing:nope")
    assert problem(gone, 404)["code"] == "scope_not_found"


def test_a_scope_in_use_is_a_409_counting_its_holders(admin_client):
    service = billing(admin_client, "billing:read")
    roles.role_create(actor=None, name="clerk", scopes=["billing:read"])
    GroupFactory.create(scopes=["billing:read"])

    scope_gone = admin_client.delete(f"{SERVICES}/{service['id']}/scopes/billing:read")
    service_gone = admin_client.delete(f"{SERVICES}/{service['id']}?force=false")

    body = problem(scope_gone, 409)
    assert body["code"] == "scope_in_use"
    assert body["uses"] == {"roles": 1, "groups": 1}
    assert problem(service_gone, 409)["uses"] == {"roles": 1, "groups": 1}
    assert Scope.objects.filter(name="billing:read").exists()


def test_a_bad_force_value_is_a_400(admin_client):
    service = billing(admin_client)

    response = admin_client.delete(f"{SERVICES}/{service['id']}?force=maybe")

    assert problem(response, 400)["errors"]["force"]


def _live_oauth_token(user, scope: str):
    application = get_application_model().objects.create(
        name="app",
        client_type="confidential",
        authorization_grant_type="client-credentials",
        user=user,
    )
    return get_access_token_model().objects.create(
        user=user,
        application=application,
        token=uuid.uuid4().hex,
        scope=scope,
        expires=timezone.now() + timedelta(hours=1),
    )


def test_force_delete_takes_the_scope_from_every_holder(admin_client, admin_user):
    service = billing(admin_client, "billing:read", "billing:write")
    role = roles.role_create(actor=None, name="clerk", scopes=["billing:read", "users:read"])
    group = GroupFactory.create(scopes=["billing:read", "objects:read"])
    owner = UserFactory.create(scopes=["billing:read", "billing:write"])
    only = api_key_create(owner=owner, name="only", scopes=["billing:read"], actor=None)
    both = api_key_create(
        owner=owner, name="both", scopes=["billing:read", "billing:write"], actor=None
    )
    token = _live_oauth_token(owner, "billing:read billing:write")

    response = admin_client.delete(f"{SERVICES}/{service['id']}/scopes/billing:read?force=true")

    assert response.status_code == 204, response.content
    role.refresh_from_db()
    group.refresh_from_db()
    owner.refresh_from_db()
    assert role.scopes == ["users:read"]
    assert group.scopes == ["objects:read"]
    assert owner.scopes == ["billing:write"]
    assert ApiKey.objects.get(pk=only.api_key.pk).revoked_at is not None  # no scope left
    kept = ApiKey.objects.get(pk=both.api_key.pk)
    assert (kept.revoked_at, kept.scopes) == (None, ["billing:write"])
    assert not get_access_token_model().objects.filter(pk=token.pk).exists()
    assert not Scope.objects.filter(name="billing:read").exists()
    event = AuditEvent.objects.get(type="scope.deleted")
    assert event.actor_id == admin_user.pk
    assert event.data["forced"] is True
    assert event.data["removed_from"] == {
        "roles": 1,
        "groups": 1,
        "users": 1,
        "api_keys": 2,
        "oauth_clients": 1,
    }


def test_force_delete_of_a_service_takes_its_scopes_from_roles(admin_client):
    service = billing(admin_client, "billing:read", "billing:write")
    role = roles.role_create(actor=None, name="clerk", scopes=["billing:read", "billing:write"])

    response = admin_client.delete(f"{SERVICES}/{service['id']}?force=true")

    assert response.status_code == 204, response.content
    assert Role.objects.get(pk=role.pk).scopes == []
    assert not Service.objects.filter(name="billing").exists()
    assert catalogue.current().service_for("billing") is None
    assert AuditEvent.objects.get(type="service.deleted").data["forced"] is True
