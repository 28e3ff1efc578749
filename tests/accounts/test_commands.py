from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn.models import ApiKey
from tests.factories import AdminFactory, UserFactory


def test_ensure_admin_creates_superuser_once_and_prints_password(db) -> None:
    first = StringIO()
    call_command("ensure_admin", stdout=first)
    admin = User.objects.get(username="admin")
    password = next(
        line.split(":", 1)[1].strip()
        for line in first.getvalue().splitlines()
        if "password:" in line
    )
    assert admin.is_superuser and admin.check_password(password)

    second = StringIO()
    call_command("ensure_admin", stdout=second)
    assert "password:" not in second.getvalue()
    assert User.objects.filter(is_superuser=True).count() == 1


def password_of(output: str) -> str:
    return next(
        line.split(":", 1)[1].strip() for line in output.splitlines() if "password:" in line
    )


def test_ensure_admin_with_an_admin_says_how_to_reset_its_password(db) -> None:
    AdminFactory.create(username="root")

    out = StringIO()
    call_command("ensure_admin", stdout=out)

    assert "password:" not in out.getvalue()
    assert "manage.py ensure_admin --reset --username root`" in out.getvalue()
    assert "manage.py changepassword root" in out.getvalue()


def test_ensure_admin_reset_prints_a_new_password_once_and_ends_the_old_sign_ins(db) -> None:
    first = StringIO()
    call_command("ensure_admin", stdout=first)
    api = APIClient()
    old = {"username": "admin", "password": password_of(first.getvalue())}
    tokens = api.post("/api/v1/auth/token", old, format="json").json()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    minted = api.post("/api/v1/api-keys", {"name": "ci", "scopes": ["profile"]}, format="json")
    assert minted.status_code == 201, minted.content
    api.credentials()

    out = StringIO()
    call_command("ensure_admin", "--reset", stdout=out)

    password = password_of(out.getvalue())
    assert out.getvalue().count(password) == 1 and password != old["password"]
    assert api.post("/api/v1/auth/token", old, format="json").status_code == 401
    new = {"username": "admin", "password": password}
    assert api.post("/api/v1/auth/token", new, format="json").status_code == 200
    refresh = {"refresh_token": tokens["refresh_token"]}
    assert api.post("/api/v1/auth/token/refresh", refresh, format="json").status_code == 401
    assert ApiKey.objects.get(pk=minted.json()["id"]).revoked_at is not None
    event = AuditEvent.objects.get(type="password.changed")
    assert event.data == {"method": "reset", "via": "ensure_admin"}
    assert event.actor_id is None


def test_ensure_admin_reset_refuses_a_user_who_is_not_an_admin(db) -> None:
    UserFactory.create(username="ada")
    AdminFactory.create(username="root")

    with pytest.raises(CommandError, match="No admin user 'ada'; admins: root"):
        call_command("ensure_admin", "--reset", "--username", "ada", stdout=StringIO())
    with pytest.raises(CommandError, match="No admin user 'admin'"):
        call_command("ensure_admin", "--reset", stdout=StringIO())


def test_ensure_admin_reset_lifts_the_lock_that_came_with_the_lost_password(
    db, settings, django_capture_on_commit_callbacks
) -> None:
    call_command("ensure_admin", stdout=StringIO())
    api = APIClient()
    wrong = {"username": "admin", "password": "not the admin's password"}
    for _ in range(settings.MICRO_LOCKOUT_THRESHOLD):
        api.post("/api/v1/auth/token", wrong, format="json")
    assert api.post("/api/v1/auth/token", wrong, format="json").status_code == 429

    out = StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ensure_admin", "--reset", stdout=out)

    new = {"username": "admin", "password": password_of(out.getvalue())}
    assert api.post("/api/v1/auth/token", new, format="json").status_code == 200
    assert AuditEvent.objects.filter(type="login.unlocked").count() == 1
