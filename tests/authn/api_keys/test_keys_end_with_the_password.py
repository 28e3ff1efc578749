"""API keys do not outlive the password: a reset revokes every key of the user, and
logout-all (API and dashboard) can too. A key minted by whoever knew the old password, or by
whoever registered an address before its owner, must not keep access."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys.services import (
    MintedKey,
    api_key_create,
    api_key_revoke,
    api_keys_revoke_all,
)
from authn.models import ApiKey
from tests.accounts.email_helpers import only_email_to
from tests.accounts.password_reset_helpers import (
    NEW_PASSWORD,
    fresh_code,
    request_reset,
    reset,
    set_password_via_page,
)
from tests.authn.dashboard_helpers import csrf_client
from tests.factories import UserFactory

ME = "/api/v1/me"
EXCHANGE = "/api/v1/auth/token/exchange"


@pytest.fixture
def member(db: Any) -> User:
    return UserFactory.create(username="lin", email="lin@example.com", email_verified=True)


@pytest.fixture
def commit(django_capture_on_commit_callbacks: Any) -> Any:
    return django_capture_on_commit_callbacks


def mint(owner: User, name: str = "k") -> MintedKey:
    return api_key_create(
        owner=owner, name=name, scopes=["profile"], expires_in_days=30, actor=None
    )


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def works(raw: str) -> bool:
    status = bearer(raw).get(ME).status_code
    assert status in (200, 401), status
    return status == 200


def exchanged(minted: MintedKey) -> str:
    return str(bearer(minted.key).post(EXCHANGE).json()["access_token"])


# --- a password reset -------------------------------------------------------------------------


def test_a_key_minted_before_a_reset_is_refused_after_it(member: User, commit: Any) -> None:
    first, second = mint(member, "ci"), mint(member, "laptop")
    token = exchanged(first)
    assert works(first.key) and works(second.key) and works(token)

    with commit(execute=True):  # the key cache is invalidated once the reset commits
        assert reset({"token": fresh_code(member), "password": NEW_PASSWORD}).status_code == 200

    assert not works(first.key)
    assert not works(second.key)
    assert not works(token)
    assert not ApiKey.objects.filter(owner=member, revoked_at__isnull=True).exists()
    events = AuditEvent.objects.filter(type="api_key.revoked", actor_id=member.pk)
    assert sorted(event.subject_id for event in events) == sorted(
        str(minted.api_key.pk) for minted in (first, second)
    )
    assert {event.data["reason"] for event in events} == {"password_reset"}


def test_the_reset_page_revokes_the_keys_too(member: User, commit: Any) -> None:
    minted = mint(member)
    assert works(minted.key)
    uidb64, token = fresh_code(member).split(".")

    with commit(execute=True):
        response = set_password_via_page(csrf_client(), uidb64, token, NEW_PASSWORD)

    assert response.status_code == 302
    assert not works(minted.key)


def test_other_users_keys_survive_a_reset(member: User, other_user: User, commit: Any) -> None:
    theirs = mint(other_user)
    assert works(theirs.key)

    with commit(execute=True):
        reset({"token": fresh_code(member), "password": NEW_PASSWORD})

    assert works(theirs.key)


def test_a_key_minted_after_the_reset_works(member: User, commit: Any) -> None:
    with commit(execute=True):
        reset({"token": fresh_code(member), "password": NEW_PASSWORD})

    assert works(mint(member).key)


def test_the_reset_email_says_the_keys_are_revoked(member: User, commit: Any) -> None:
    request_reset("lin@example.com", commit=commit)

    message = only_email_to("lin@example.com")
    assert "revokes every API key" in str(message.body)
    html = next(content for content, kind in message.alternatives if kind == "text/html")
    assert "revokes every API key" in str(html)


# --- logout-all -------------------------------------------------------------------------------

LOGOUT_ALL = "/api/v1/auth/logout-all"


def test_logout_all_with_api_keys_revokes_every_key(
    member: User, client_for: Any, commit: Any
) -> None:
    minted = mint(member)
    token = exchanged(minted)
    assert works(minted.key) and works(token)

    with commit(execute=True):
        response = client_for(member).post(LOGOUT_ALL, {"api_keys": True}, format="json")

    assert response.status_code == 204
    assert not works(minted.key)
    assert not works(token)
    event = AuditEvent.objects.get(type="api_key.revoked")
    assert (event.subject_id, event.actor_id) == (str(minted.api_key.pk), member.pk)
    assert event.data["reason"] == "logout_all"


def test_revoking_every_key_leaves_expired_and_revoked_keys_alone(
    member: User, commit: Any
) -> None:
    live, expired, revoked = mint(member, "live"), mint(member, "expired"), mint(member, "revoked")
    api_key_revoke(api_key=revoked.api_key, actor=None)
    ApiKey.objects.filter(pk=expired.api_key.pk).update(
        expires_at=timezone.now() - timedelta(days=1)
    )
    AuditEvent.objects.all().delete()

    with commit(execute=True):
        count = api_keys_revoke_all(owner_id=member.pk, actor=member.pk, reason="logout_all")

    assert count == 1
    assert [event.subject_id for event in AuditEvent.objects.filter(type="api_key.revoked")] == [
        str(live.api_key.pk)
    ]
    assert ApiKey.objects.get(pk=expired.api_key.pk).revoked_at is None
    assert not works(live.key)


def test_revoking_every_key_ends_tokens_exchanged_just_before_a_key_expired(
    member: User, commit: Any
) -> None:
    minted = mint(member)
    token = exchanged(minted)
    ApiKey.objects.filter(pk=minted.api_key.pk).update(
        expires_at=timezone.now() - timedelta(seconds=30)
    )
    assert works(token)  # an exchanged token outlives its key by up to its own lifetime

    with commit(execute=True):
        count = api_keys_revoke_all(owner_id=member.pk, actor=member.pk, reason="logout_all")

    assert count == 0
    assert not works(token)
    assert not AuditEvent.objects.filter(type="api_key.revoked").exists()


@pytest.mark.parametrize("body", [None, {}, {"api_keys": False}])
def test_logout_all_without_api_keys_leaves_the_keys(
    member: User, client_for: Any, commit: Any, body: Any
) -> None:
    minted = mint(member)
    signed_in = client_for(member)

    with commit(execute=True):
        response = signed_in.post(LOGOUT_ALL, body, format="json")

    assert response.status_code == 204
    assert signed_in.get(ME).status_code == 401  # the sign-ins did end
    assert works(minted.key)
    assert not AuditEvent.objects.filter(type="api_key.revoked").exists()


@pytest.mark.parametrize("body", [{"api_key": True}, {"api_keys": True, "everything": True}])
def test_logout_all_with_an_unknown_field_is_400_and_ends_nothing(
    member: User, client_for: Any, body: Any
) -> None:
    minted = mint(member)
    signed_in = client_for(member)

    response = signed_in.post(LOGOUT_ALL, body, format="json")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert signed_in.get(ME).status_code == 200
    assert works(minted.key)


def test_logout_all_documents_its_body_in_the_schema(db: Any) -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    body = schema["paths"][LOGOUT_ALL]["post"]["requestBody"]["content"]["application/json"]
    ref = body["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = schema["components"]["schemas"][ref]["properties"]
    assert properties["api_keys"]["type"] == "boolean"


# --- the dashboard's "sign out everywhere" --------------------------------------------------

SIGN_OUT_EVERYWHERE = "/dashboard/security/sign-out-everywhere"


def dashboard_of(user: User) -> Any:
    from django.test import Client

    from tests.authn.dashboard_helpers import sign_in

    browser = Client()
    sign_in(browser, user)
    return browser


def test_the_security_page_offers_sign_out_everywhere_with_a_keys_box(member: User) -> None:
    page = dashboard_of(member).get("/dashboard/security/").content.decode()

    assert f'action="{SIGN_OUT_EVERYWHERE}"' in page
    assert 'type="checkbox" name="api_keys"' in page


def test_sign_out_everywhere_with_the_box_revokes_the_keys(member: User, commit: Any) -> None:
    minted = mint(member)
    browser, other = dashboard_of(member), dashboard_of(member)

    with commit(execute=True):
        response = browser.post(SIGN_OUT_EVERYWHERE, {"api_keys": "on"})

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert browser.get("/dashboard/security/").status_code == 302  # signed out
    assert other.get("/dashboard/security/").status_code == 302
    assert not works(minted.key)
    assert AuditEvent.objects.get(type="api_key.revoked").data["reason"] == "logout_all"


def test_sign_out_everywhere_without_the_box_keeps_the_keys(member: User, commit: Any) -> None:
    minted = mint(member)
    browser = dashboard_of(member)

    with commit(execute=True):
        response = browser.post(SIGN_OUT_EVERYWHERE, {})

    assert response.status_code == 302
    assert browser.get("/dashboard/security/").status_code == 302
    assert works(minted.key)


def test_sign_out_everywhere_needs_post_and_csrf(member: User) -> None:
    from django.test import Client

    minted = mint(member)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(member)

    assert browser.post(SIGN_OUT_EVERYWHERE, {"api_keys": "on"}).status_code == 403
    assert browser.get(SIGN_OUT_EVERYWHERE).status_code == 405
    assert works(minted.key)
