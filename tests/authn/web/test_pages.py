"""Dashboard pages with Django's test client: allow, deny, anonymous, bad input, CSRF."""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import pytest
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys.services import api_key_create
from authn.models import ApiKey
from tests.authn.dashboard_helpers import (
    API_KEYS_URL,
    LOGIN_URL,
    PROFILE_URL,
    SECURITY_URL,
    csrf_token,
    enrol_totp,
    sign_in,
)
from tests.factories import AdminFactory

pytestmark = pytest.mark.django_db

KEY_SHAPE = re.compile(r"mk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def dashboard(user: User) -> Client:
    client = Client()
    sign_in(client, user)
    return client


def _mint(client: Client, **fields: Any) -> Any:
    data = {"name": "ci", "scopes": ["profile"], "expires_in_days": 30, **fields}
    return client.post(API_KEYS_URL, data)


def _key_of(user: User, **fields: Any) -> ApiKey:
    return api_key_create(
        owner=user, name=fields.get("name", "k"), scopes=["profile"], expires_in_days=30, actor=None
    ).api_key


@pytest.mark.parametrize("url", [PROFILE_URL, API_KEYS_URL, SECURITY_URL])
def test_anonymous_is_sent_to_login(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN_URL}?next={url}"


NO_SUCH_KEY = uuid.UUID("00000000-0000-4000-8000-000000000001")


@pytest.mark.parametrize(
    "url",
    [
        API_KEYS_URL,
        # A fixed id: a random one in a test's name differs between test workers.
        f"/dashboard/api-keys/{NO_SUCH_KEY}/revoke",
        f"/dashboard/api-keys/{NO_SUCH_KEY}/rotate",
        "/dashboard/security/totp",
        "/dashboard/security/password",
    ],
)
def test_anonymous_posts_are_sent_to_login(client: Client, url: str) -> None:
    response = client.post(url, {})
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN_URL)


# --- profile ----------------------------------------------------------------------------


def test_profile_shows_the_account(dashboard: Client, user: User) -> None:
    body = dashboard.get(PROFILE_URL).content.decode()
    assert user.username in body and user.email in body and str(user.pk) in body


def test_profile_edit_goes_through_the_service(dashboard: Client, user: User) -> None:
    response = dashboard.post(
        PROFILE_URL,
        {
            "display_name": "New Name",
            "email": "new@example.com",
            "avatar_url": "https://img.example/a.png",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.display_name, user.email) == ("New Name", "new@example.com")
    assert user.avatar_url == "https://img.example/a.png"
    assert user.email_verified is False
    event = AuditEvent.objects.get(type="user.updated")
    assert event.actor_id == user.pk


def test_profile_bad_input_is_a_form_error(dashboard: Client, user: User) -> None:
    response = dashboard.post(
        PROFILE_URL, {"display_name": "x" * 151, "email": "not-an-email", "avatar_url": "ftp://x"}
    )
    assert response.status_code == 400
    body = response.content.decode()
    assert "Enter a valid email address." in body
    assert "Enter a valid URL." in body
    user.refresh_from_db()
    assert user.email != "not-an-email"


def test_profile_display_name_with_a_line_break_is_a_form_error(
    dashboard: Client, user: User
) -> None:
    response = dashboard.post(PROFILE_URL, {"display_name": "Sam\nAdmin", "email": user.email})

    assert response.status_code == 400
    assert "without line breaks" in response.content.decode()
    user.refresh_from_db()
    assert "\n" not in user.display_name


def test_profile_email_taken_is_a_form_error(
    dashboard: Client, user: User, other_user: User
) -> None:
    response = dashboard.post(PROFILE_URL, {"display_name": "", "email": other_user.email.upper()})
    assert response.status_code == 400
    assert "already exists" in response.content.decode()


def test_profile_edit_enforces_csrf(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    assert client.post(PROFILE_URL, {"display_name": "csrf"}).status_code == 403
    token = (client.get(PROFILE_URL), csrf_token(client))[1]
    response = client.post(
        PROFILE_URL, {"display_name": "ok", "email": user.email, "csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302


def test_profile_bad_avatar_url_is_reported_once(dashboard: Client) -> None:
    for bad in ("ftp://x", "not a url"):
        response = dashboard.post(PROFILE_URL, {"avatar_url": bad})
        assert response.status_code == 400
        assert response.content.decode().count("Enter a valid URL.") == 1, bad
        assert response.context["form"].errors["avatar_url"] == ["Enter a valid URL."]


def test_profile_labels_the_avatar_url_properly(dashboard: Client) -> None:
    body = dashboard.get(PROFILE_URL).content.decode()
    assert 'for="id_avatar_url">Avatar URL:</label>' in body
    assert "Avatar url" not in body


def test_profile_summary_shows_the_saved_display_name(dashboard: Client, user: User) -> None:
    dashboard.post(PROFILE_URL, {"display_name": "Ada Lovelace", "email": user.email})

    summary = dashboard.get(PROFILE_URL).content.decode().split("<h2>Edit</h2>")[0]
    assert "Display name" in summary and "Ada Lovelace" in summary


# --- API keys ---------------------------------------------------------------------------


def test_api_keys_page_offers_only_held_scopes(dashboard: Client) -> None:
    body = dashboard.get(API_KEYS_URL).content.decode()
    assert 'value="profile"' in body
    assert 'value="api_admin"' not in body and 'value="users:write"' not in body


def test_mint_shows_the_key_once_and_lists_it(dashboard: Client, user: User) -> None:
    response = _mint(dashboard, name="deploy bot")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
    body = response.content.decode()
    keys = KEY_SHAPE.findall(body)
    assert len(set(keys)) == 1
    assert 'data-copy-target="new-key"' in body
    api_key = ApiKey.objects.get(owner=user)
    assert api_key.name == "deploy bot" and api_key.scopes == ["profile"]
    listing = dashboard.get(API_KEYS_URL).content.decode()
    assert "deploy bot" in listing and api_key.prefix in listing
    assert keys[0] not in listing


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": ""}, "This field is required."),
        ({"scopes": []}, "This field is required."),
        ({"scopes": ["users:write"]}, "Select a valid choice."),
        ({"scopes": ["no-such-scope"]}, "Select a valid choice."),
        ({"expires_in_days": 0}, "greater than or equal to 1"),
        ({"expires_in_days": 366}, "less than or equal to 365"),
        ({"expires_in_days": "soon"}, "Enter a whole number."),
    ],
)
def test_mint_bad_input_is_a_form_error(
    dashboard: Client, user: User, fields: dict[str, Any], message: str
) -> None:
    response = _mint(dashboard, **fields)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ApiKey.objects.filter(owner=user).exists()


def test_mint_api_admin_needs_a_fresh_mfa_sign_in() -> None:
    admin = AdminFactory.create()
    password_only = Client()
    sign_in(password_only, admin)
    response = _mint(password_only, scopes=["api_admin"])
    assert response.status_code == 400
    assert "MFA" in response.content.decode()
    assert not ApiKey.objects.filter(owner=admin).exists()

    enrol_totp(admin)
    with_mfa = Client()
    sign_in(with_mfa, admin)
    response = _mint(with_mfa, scopes=["api_admin"])
    assert response.status_code == 200
    assert ApiKey.objects.get(owner=admin).scopes == ["api_admin"]


def test_mint_api_admin_without_mfa_explains_once_and_links_to_the_security_page() -> None:
    admin = AdminFactory.create()
    client = Client()
    sign_in(client, admin)
    response = _mint(client, scopes=["api_admin"])
    assert response.status_code == 400
    body = response.content.decode()
    assert "`" not in body
    assert body.count("in the last 15 minutes") == 1
    assert 'href="/dashboard/security/#mfa">Set up an authenticator app' in body


def test_mint_api_admin_with_a_stale_mfa_sign_in_links_to_sign_in_again(
    monkeypatch: Any,
) -> None:
    admin = AdminFactory.create()
    enrol_totp(admin)
    client = Client()
    sign_in(client, admin)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 16 * 60)
    body = _mint(client, scopes=["api_admin"]).content.decode()
    assert "`" not in body and body.count("in the last 15 minutes") == 1
    assert 'href="/accounts/login/?next=/dashboard/api-keys/">Sign in again' in body


def test_mint_api_admin_refused_when_the_mfa_sign_in_is_stale(monkeypatch: Any) -> None:
    admin = AdminFactory.create()
    enrol_totp(admin)
    client = Client()
    sign_in(client, admin)
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 16 * 60)
    response = _mint(client, scopes=["api_admin"])
    assert response.status_code == 400
    assert not ApiKey.objects.filter(owner=admin).exists()


def test_revoke_own_key(dashboard: Client, user: User) -> None:
    api_key = _key_of(user)
    response = dashboard.post(f"/dashboard/api-keys/{api_key.pk}/revoke")
    assert response.status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert "revoked" in dashboard.get(API_KEYS_URL).content.decode()


def test_revoke_or_rotate_another_users_key_is_not_found(
    dashboard: Client, other_user: User
) -> None:
    api_key = _key_of(other_user)
    assert dashboard.post(f"/dashboard/api-keys/{api_key.pk}/revoke").status_code == 404
    response = dashboard.post(f"/dashboard/api-keys/{api_key.pk}/rotate", {"grace_hours": 1})
    assert response.status_code == 404
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
    assert ApiKey.objects.count() == 1


def test_revoke_unknown_key_is_not_found_and_other_methods_are_not_allowed(
    dashboard: Client, user: User
) -> None:
    assert dashboard.post(f"/dashboard/api-keys/{uuid.uuid4()}/revoke").status_code == 404
    assert dashboard.get(f"/dashboard/api-keys/{uuid.uuid4()}/revoke").status_code == 404
    api_key = _key_of(user)
    assert dashboard.put(f"/dashboard/api-keys/{api_key.pk}/revoke").status_code == 405
    assert dashboard.delete(f"/dashboard/api-keys/{api_key.pk}/revoke").status_code == 405


def test_revoke_asks_to_confirm_first(dashboard: Client, user: User) -> None:
    api_key = _key_of(user, name="deploy bot")
    url = f"/dashboard/api-keys/{api_key.pk}/revoke"
    listing = dashboard.get(API_KEYS_URL).content.decode()
    assert f'<a class="button danger" href="{url}">Revoke</a>' in listing

    confirm = dashboard.get(url)
    assert confirm.status_code == 200
    body = confirm.content.decode()
    assert "Revoke API key “deploy bot”?" in body and api_key.prefix in body
    assert f'<form method="post" action="{url}"' in body and "csrfmiddlewaretoken" in body
    assert "<script" not in body.split("<main")[1]
    api_key.refresh_from_db()
    assert api_key.revoked_at is None  # looking is not revoking

    assert dashboard.post(url).status_code == 302
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    again = dashboard.get(url, follow=True)
    assert "already revoked" in again.content.decode()


def test_the_revoke_confirm_page_hides_other_users_keys(
    dashboard: Client, other_user: User
) -> None:
    api_key = _key_of(other_user, name="theirs")
    response = dashboard.get(f"/dashboard/api-keys/{api_key.pk}/revoke")
    assert response.status_code == 404
    assert "theirs" not in response.content.decode()


def test_the_confirmed_revoke_still_needs_csrf(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    api_key = _key_of(user)
    assert client.get(f"/dashboard/api-keys/{api_key.pk}/revoke").status_code == 200
    assert client.post(f"/dashboard/api-keys/{api_key.pk}/revoke").status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None


def test_rotate_shows_the_new_key_and_shortens_the_old(dashboard: Client, user: User) -> None:
    old = _key_of(user)
    response = dashboard.post(f"/dashboard/api-keys/{old.pk}/rotate", {"grace_hours": 2})
    assert response.status_code == 200
    assert len(KEY_SHAPE.findall(response.content.decode())) == 1
    old.refresh_from_db()
    assert (old.expires_at - old.created_at).total_seconds() < 3 * 3600
    assert ApiKey.objects.filter(owner=user).count() == 2


@pytest.mark.parametrize("grace", ["-1", "100000", "soon", ""])
def test_rotate_bad_grace_hours_is_a_form_error(dashboard: Client, user: User, grace: str) -> None:
    old = _key_of(user)
    response = dashboard.post(f"/dashboard/api-keys/{old.pk}/rotate", {"grace_hours": grace})
    assert response.status_code == 400
    assert ApiKey.objects.filter(owner=user).count() == 1


def test_rotate_revoked_key_is_refused_with_a_message(dashboard: Client, user: User) -> None:
    old = _key_of(user)
    dashboard.post(f"/dashboard/api-keys/{old.pk}/revoke")
    url = f"/dashboard/api-keys/{old.pk}/rotate"
    response = dashboard.post(url, {"grace_hours": 1}, follow=True)
    assert "cannot be rotated" in response.content.decode()
    assert ApiKey.objects.filter(owner=user).count() == 1


def test_api_key_forms_enforce_csrf(user: User) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    api_key = _key_of(user)
    assert client.post(API_KEYS_URL, {"name": "x", "scopes": ["profile"]}).status_code == 403
    assert client.post(f"/dashboard/api-keys/{api_key.pk}/revoke").status_code == 403
    assert client.post(f"/dashboard/api-keys/{api_key.pk}/rotate").status_code == 403
    api_key.refresh_from_db()
    assert api_key.revoked_at is None
