"""Admin console: services and their scopes, roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.test import Client

from audit.models import AuditEvent
from authn.sessions.proof import AMR_KEY
from permissions.models import Role, RoleAssignment, Scope, Service
from permissions.registry import scope_create, service_create
from permissions.roles import role_assign, role_create
from tests.authn.dashboard_helpers import LOGIN_URL
from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db

SERVICES_URL = "/dashboard/admin/services/"
ROLES_URL = "/dashboard/admin/roles/"


@pytest.fixture
def billing() -> Service:
    service = service_create(actor=None, name="billing", description="Invoices")
    scope_create(actor=None, service=service, name="billing:read", description="Read invoices")
    return service


def _pages(billing: Service, role: Role) -> list[str]:
    return [
        SERVICES_URL,
        f"{SERVICES_URL}{billing.pk}/",
        f"{SERVICES_URL}{billing.pk}/delete",
        f"{SERVICES_URL}{billing.pk}/scopes/billing:read/delete",
        ROLES_URL,
        f"{ROLES_URL}{role.pk}/",
        f"{ROLES_URL}{role.pk}/delete",
    ]


@pytest.fixture
def clerk(billing: Service) -> Role:
    return role_create(actor=None, name="billing-clerk", scopes=["billing:read", "users:read"])


def test_anonymous_is_sent_to_sign_in(client: Client, billing: Service, clerk: Role) -> None:
    for url in _pages(billing, clerk):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"] == f"{LOGIN_URL}?next={quote(url)}"


def test_a_user_without_api_admin_gets_the_403_page(
    member_console: Client, billing: Service, clerk: Role
) -> None:
    for url in _pages(billing, clerk):
        for method in (member_console.get, member_console.post):
            response = method(url)
            assert response.status_code == 403, url
            assert "The admin console is for administrators" in response.content.decode()
    assert Service.objects.filter(name="billing").exists()
    assert Role.objects.filter(name="billing-clerk").exists()


def test_an_admin_registers_a_service_and_adds_a_scope(admin_console: Client) -> None:
    response = admin_console.post(
        SERVICES_URL, {"name": "billing", "audience": "", "description": "Invoices"}
    )
    service = Service.objects.get(name="billing")
    assert response.status_code == 302
    assert response["Location"] == f"{SERVICES_URL}{service.pk}/"
    assert service.audience == "billing"
    response = admin_console.post(
        f"{SERVICES_URL}{service.pk}/", {"name": "billing:read", "description": "Read"}
    )
    assert response.status_code == 302
    assert Scope.objects.get(name="billing:read").service == service
    types = set(AuditEvent.objects.values_list("type", flat=True))
    assert {"service.created", "scope.created"} <= types
    body = admin_console.get(f"{SERVICES_URL}{service.pk}/").content.decode()
    assert "billing:read" in body


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": "Billing"}, "A service name matches"),
        ({"name": "micro"}, "A service with this name exists."),
    ],
)
def test_a_bad_service_is_refused_on_the_form(
    admin_console: Client, fields: dict[str, str], message: str
) -> None:
    response = admin_console.post(SERVICES_URL, {"audience": "", "description": "", **fields})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Service.objects.count() == 1  # the built-in one


def test_a_scope_of_another_service_is_refused(admin_console: Client, billing: Service) -> None:
    response = admin_console.post(f"{SERVICES_URL}{billing.pk}/", {"name": "orders:read"})
    assert response.status_code == 400
    assert "A scope of billing is named billing:&lt;action&gt;." in response.content.decode()
    assert not Scope.objects.filter(name="orders:read").exists()


def test_the_built_in_service_offers_no_scope_changes(admin_console: Client) -> None:
    micro = Service.objects.get(name="micro")
    body = admin_console.get(f"{SERVICES_URL}{micro.pk}/").content.decode()
    assert "Add a scope" not in body and "Delete service" not in body
    response = admin_console.post(f"{SERVICES_URL}{micro.pk}/", {"name": "micro:x"})
    assert response.status_code == 400
    assert "The built-in service and its scopes are the code" in response.content.decode()
    assert not Scope.objects.filter(name="micro:x").exists()


def test_deleting_a_scope_asks_to_confirm_first(admin_console: Client, billing: Service) -> None:
    url = f"{SERVICES_URL}{billing.pk}/scopes/billing:read/delete"
    response = admin_console.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Delete scope “billing:read”?" in body and 'name="force"' not in body
    assert Scope.objects.filter(name="billing:read").exists()
    response = admin_console.post(url)
    assert response.status_code == 302
    assert not Scope.objects.filter(name="billing:read").exists()
    assert AuditEvent.objects.filter(type="scope.deleted").exists()


def test_a_scope_in_use_is_deleted_only_with_the_force_box_ticked(
    admin_console: Client, billing: Service, clerk: Role
) -> None:
    url = f"{SERVICES_URL}{billing.pk}/scopes/billing:read/delete"
    body = admin_console.get(url).content.decode()
    assert 'name="force"' in body and "Also take it from 1 roles" in body
    response = admin_console.post(url)
    assert response.status_code == 409
    assert "Still used by 1 roles" in response.content.decode()
    assert Scope.objects.filter(name="billing:read").exists()
    response = admin_console.post(url, {"force": "on"})
    assert response.status_code == 302
    assert not Scope.objects.filter(name="billing:read").exists()
    clerk.refresh_from_db()
    assert clerk.scopes == ["users:read"]


def test_deleting_a_service_asks_to_confirm_first(admin_console: Client, billing: Service) -> None:
    url = f"{SERVICES_URL}{billing.pk}/delete"
    assert "Delete service “billing”?" in admin_console.get(url).content.decode()
    assert Service.objects.filter(name="billing").exists()
    assert admin_console.post(url).status_code == 302
    assert not Service.objects.filter(name="billing").exists()


def test_an_admin_creates_a_role_with_scope_checkboxes(
    admin_console: Client, billing: Service
) -> None:
    body = admin_console.get(ROLES_URL).content.decode()
    assert 'value="billing:read"' in body and 'value="users:read"' in body
    response = admin_console.post(
        ROLES_URL, {"name": "billing-clerk", "scopes": ["billing:read", "users:read"]}
    )
    role = Role.objects.get(name="billing-clerk")
    assert response.status_code == 302 and response["Location"] == f"{ROLES_URL}{role.pk}/"
    assert role.scopes == ["billing:read", "users:read"]
    assert AuditEvent.objects.filter(type="role.created").exists()


def test_a_role_with_a_bad_name_or_an_unknown_scope_is_refused(admin_console: Client) -> None:
    response = admin_console.post(ROLES_URL, {"name": "Clerk", "scopes": ["users:read"]})
    assert response.status_code == 400
    assert "A role name matches" in response.content.decode()
    response = admin_console.post(ROLES_URL, {"name": "clerk", "scopes": ["billing:read"]})
    assert response.status_code == 400
    assert not Role.objects.exists()


def test_an_admin_changes_a_roles_scopes(admin_console: Client, clerk: Role) -> None:
    body = admin_console.get(f"{ROLES_URL}{clerk.pk}/").content.decode()
    assert re.search(r'<input[^>]*value="billing:read"[^>]*checked', body)
    assert not re.search(r'<input[^>]*value="objects:read"[^>]*checked', body)
    response = admin_console.post(
        f"{ROLES_URL}{clerk.pk}/", {"scopes": ["users:read"], "description": "Clerks"}
    )
    assert response.status_code == 302
    clerk.refresh_from_db()
    assert clerk.scopes == ["users:read"] and clerk.description == "Clerks"
    assert AuditEvent.objects.filter(type="role.updated").exists()


def test_deleting_a_role_asks_to_confirm_first(admin_console: Client, clerk: Role) -> None:
    group = GroupFactory.create()
    role_assign(actor=None, role=clerk, subject_type="group", subject_id=group.pk)
    url = f"{ROLES_URL}{clerk.pk}/delete"
    body = admin_console.get(url).content.decode()
    assert "Delete role “billing-clerk”?" in body and "0 users, 1 groups" in body
    assert Role.objects.filter(pk=clerk.pk).exists()
    assert admin_console.post(url).status_code == 302
    assert not Role.objects.filter(pk=clerk.pk).exists()
    assert not RoleAssignment.objects.exists()


def test_service_and_role_lists_are_paginated(admin_console: Client) -> None:
    for n in range(30):
        service_create(actor=None, name=f"svc{n:02d}")
        role_create(actor=None, name=f"role{n:02d}", scopes=[])
    first = admin_console.get(SERVICES_URL).content.decode()
    assert "svc00" in first and "svc29" not in first and 'rel="next"' in first
    second = admin_console.get(SERVICES_URL, {"page": 2}).content.decode()
    assert "svc29" in second and "svc00" not in second
    assert admin_console.get(SERVICES_URL, {"page": "x"}).status_code == 200
    roles = admin_console.get(ROLES_URL, {"page": 2}).content.decode()
    assert "role29" in roles and "role00" not in roles


def test_an_admin_with_mfa_changes_within_15_minutes_of_a_code(
    mfa_admin_console: Client, later: Callable[[int], None]
) -> None:
    response = mfa_admin_console.post(SERVICES_URL, {"name": "billing"})
    assert response.status_code == 302
    later(16)
    response = mfa_admin_console.post(SERVICES_URL, {"name": "orders"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "Sign in again with your code" in body
    assert 'href="/accounts/login/?next=%2Fdashboard%2Fadmin%2Fservices%2F"' in body
    assert not Service.objects.filter(name="orders").exists()
    assert mfa_admin_console.get(SERVICES_URL).status_code == 200  # reading stays open


def test_an_admin_with_mfa_whose_session_shows_no_code_may_not_change_anything(
    mfa_admin_console: Client, billing: Service
) -> None:
    session = mfa_admin_console.session
    session[AMR_KEY] = ["pwd"]  # a password sign-in only
    session.save()
    url = f"{SERVICES_URL}{billing.pk}/scopes/billing:read/delete"
    assert mfa_admin_console.get(url).status_code == 200
    assert mfa_admin_console.post(url).status_code == 403
    assert Scope.objects.filter(name="billing:read").exists()
    assert mfa_admin_console.post(ROLES_URL, {"name": "x", "scopes": []}).status_code == 403
    assert not Role.objects.filter(name="x").exists()


def test_every_page_is_csp_clean(admin_console: Client, billing: Service, clerk: Role) -> None:
    for url in _pages(billing, clerk):
        body = admin_console.get(url).content.decode()
        assert "<script>" not in body and " style=" not in body and "onclick" not in body, url
