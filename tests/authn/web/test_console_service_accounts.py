"""Admin console: service accounts, their keys and clients; every OAuth client."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import quote

import pytest
from django.test import Client
from oauth2_provider.models import Application

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys.services import api_key_create
from authn.models import ApiKey
from authn.oauth.services import service_account_client_create, user_client_register
from permissions.roles import role_assign, role_create
from tests.authn.dashboard_helpers import LOGIN_URL
from tests.authn.resource_helpers import BILLING_READ, billing  # noqa: F401 - a fixture
from tests.authn.web.conftest import PagedCheck
from tests.factories import (
    GroupFactory,
    MembershipFactory,
    ServiceAccountFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

ACCOUNTS_URL = "/dashboard/admin/service-accounts/"
CLIENTS_URL = "/dashboard/admin/clients/"
KEY_SHAPE = re.compile(r'value="(mk_[0-9a-f]{12}_[A-Za-z0-9_-]{43})"')


@pytest.fixture
def reports() -> User:
    return ServiceAccountFactory.create(username="reports", scopes=["users:read"])


@pytest.fixture
def someones_app() -> Application:
    owner = UserFactory.create(username="ines")
    return user_client_register(
        owner=owner,
        name="Ines app",
        client_type="confidential",
        redirect_uris="https://app.example/cb",
        actor=owner,
    ).application


def _pages(reports: User, someones_app: Application) -> list[str]:
    return [
        ACCOUNTS_URL,
        f"{ACCOUNTS_URL}{reports.pk}/",
        f"{ACCOUNTS_URL}{reports.pk}/api-keys",
        f"{ACCOUNTS_URL}{reports.pk}/clients",
        CLIENTS_URL,
        f"{CLIENTS_URL}{someones_app.pk}/delete",
    ]


def test_anonymous_is_sent_to_sign_in(
    client: Client, reports: User, someones_app: Application
) -> None:
    for url in _pages(reports, someones_app):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"{LOGIN_URL}?next={quote(url)}"


def test_a_user_without_api_admin_gets_the_403_page(
    member_console: Client, reports: User, someones_app: Application
) -> None:
    clients = Application.objects.count()
    for url in _pages(reports, someones_app):
        assert member_console.get(url).status_code == 403, url
        assert member_console.post(url, {"name": "k", "scopes": ["users:read"]}).status_code == 403
    assert not ApiKey.objects.exists()
    assert Application.objects.count() == clients


def test_an_admin_creates_a_service_account_with_scopes(admin_console: Client) -> None:
    response = admin_console.post(
        ACCOUNTS_URL, {"username": "billing-worker", "scopes": ["users:read"]}
    )
    account = User.objects.get(username="billing-worker")
    assert response.status_code == 302
    assert response["Location"] == f"{ACCOUNTS_URL}{account.pk}/"
    assert account.kind == User.Kind.SERVICE and account.scopes == ["users:read"]
    assert not account.has_usable_password()


def test_a_key_minted_for_a_service_account_is_shown_once(
    admin_console: Client, reports: User
) -> None:
    body = admin_console.get(f"{ACCOUNTS_URL}{reports.pk}/").content.decode()
    assert 'value="users:read"' in body and 'value="api_admin"' not in body
    response = admin_console.post(
        f"{ACCOUNTS_URL}{reports.pk}/api-keys",
        {"name": "nightly", "scopes": ["users:read"], "expires_in_days": "30"},
    )
    assert response.status_code == 200
    match = KEY_SHAPE.search(response.content.decode())
    assert match is not None
    key = ApiKey.objects.get(owner=reports)
    assert key.scopes == ["users:read"] and match.group(1).startswith(f"mk_{key.prefix}_")
    again = admin_console.get(f"{ACCOUNTS_URL}{reports.pk}/").content.decode()
    assert match.group(1) not in again
    assert AuditEvent.objects.filter(type="api_key.created").exists()


@pytest.mark.usefixtures("billing")
def test_a_key_minted_for_one_service_is_bound_to_it(
    admin_console: Client,
) -> None:
    """The service the form offers binds the key: never a key for any service instead."""
    account = ServiceAccountFactory.create(username="invoicer", scopes=[BILLING_READ])
    response = admin_console.post(
        f"{ACCOUNTS_URL}{account.pk}/api-keys",
        {"name": "b", "scopes": [BILLING_READ], "expires_in_days": "30", "resource": "billing"},
    )
    assert response.status_code == 200
    assert ApiKey.objects.get(owner=account).resource == "billing"
    assert "for <code>billing</code> only" in response.content.decode()


def test_a_key_with_scopes_the_account_does_not_hold_is_refused(
    admin_console: Client, reports: User
) -> None:
    response = admin_console.post(
        f"{ACCOUNTS_URL}{reports.pk}/api-keys",
        {"name": "x", "scopes": ["users:write"], "expires_in_days": "30"},
    )
    assert response.status_code == 400
    assert not ApiKey.objects.exists()


def test_a_client_registered_for_a_service_account_shows_its_secret_once(
    admin_console: Client, reports: User
) -> None:
    response = admin_console.post(f"{ACCOUNTS_URL}{reports.pk}/clients")
    assert response.status_code == 200
    application = Application.objects.get(user=reports)
    assert application.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
    body = response.content.decode()
    assert application.client_id in body and 'id="client-secret"' in body
    assert (
        'id="client-secret"'
        not in admin_console.get(f"{ACCOUNTS_URL}{reports.pk}/").content.decode()
    )


def test_a_person_is_not_a_service_account_page(admin_console: Client) -> None:
    person = UserFactory.create()
    assert admin_console.get(f"{ACCOUNTS_URL}{person.pk}/").status_code == 404
    assert admin_console.post(f"{ACCOUNTS_URL}{person.pk}/clients").status_code == 404
    assert not Application.objects.filter(user=person).exists()


def test_every_client_is_listed_and_deleted_after_confirming(
    admin_console: Client, reports: User, someones_app: Application
) -> None:
    service_account_client_create(account=reports, actor=None)
    body = admin_console.get(CLIENTS_URL).content.decode()
    assert "Ines app" in body and "reports" in body
    url = f"{CLIENTS_URL}{someones_app.pk}/delete"
    assert "Delete client “Ines app”?" in admin_console.get(url).content.decode()
    assert Application.objects.filter(pk=someones_app.pk).exists()
    assert admin_console.post(url).status_code == 302
    assert not Application.objects.filter(pk=someones_app.pk).exists()
    assert AuditEvent.objects.filter(type="oauth_client.deleted").exists()


def test_service_accounts_and_clients_are_paginated(admin_console: Client) -> None:
    for n in range(30):
        account = ServiceAccountFactory.create(username=f"svc{n:02d}")
        service_account_client_create(account=account, actor=None)
    first = admin_console.get(ACCOUNTS_URL).content.decode()
    assert "svc00" in first and "svc29" not in first
    assert "svc29" in admin_console.get(ACCOUNTS_URL, {"page": "2"}).content.decode()
    clients = admin_console.get(CLIENTS_URL).content.decode()
    assert "svc00" in clients and "svc29" not in clients and 'rel="next"' in clients


def test_service_account_changes_need_a_recent_code_for_an_admin_with_mfa(
    mfa_admin_console: Client, reports: User, later: Callable[[int], None]
) -> None:
    later(16)
    response = mfa_admin_console.post(
        f"{ACCOUNTS_URL}{reports.pk}/api-keys",
        {"name": "late", "scopes": ["users:read"], "expires_in_days": "30"},
    )
    assert response.status_code == 403 and "mk_" not in response.content.decode()
    assert mfa_admin_console.post(f"{ACCOUNTS_URL}{reports.pk}/clients").status_code == 403
    assert not ApiKey.objects.exists() and not Application.objects.filter(user=reports).exists()


def test_a_service_account_pages_its_keys_and_clients_each_on_its_own(
    admin_console: Client, reports: User, two_per_page: PagedCheck
) -> None:
    url = f"{ACCOUNTS_URL}{reports.pk}/"
    keys, clients = [], []
    for name in ["alpha", "bravo", "charlie"]:
        api_key_create(owner=reports, name=f"key-{name}", scopes=["users:read"], actor=None)
        keys.append(f"key-{name}")
        registered = service_account_client_create(account=reports, actor=None)
        clients.append(registered.application.client_id)
    two_per_page(admin_console, url, "keys_page", keys)
    two_per_page(admin_console, url, "clients_page", clients)
    body = admin_console.get(url, {"clients_page": "2"}).content.decode()
    assert 'href="?clients_page=2&amp;keys_page=2#api-keys"' in body


def test_a_service_account_pages_its_groups_and_roles(
    admin_console: Client, reports: User, two_per_page: PagedCheck
) -> None:
    groups, roles = [], []
    for name in ["alpha", "bravo", "charlie"]:
        groups.append(f"group-{name}")
        MembershipFactory.create(user=reports, group=GroupFactory.create(name=groups[-1]))
        roles.append(f"role-{name}")
        role = role_create(actor=None, name=roles[-1], scopes=["users:read"])
        role_assign(actor=None, role=role, subject_type="user", subject_id=reports.pk)
    url = f"{ACCOUNTS_URL}{reports.pk}/"
    two_per_page(admin_console, url, "groups_page", groups)
    two_per_page(admin_console, url, "roles_page", roles)
