"""Who may change an account's email address, and what a refused change reveals.

The address receives password resets, so moving it opens the account: the user themself
(from a recent password sign-in) or `api_admin` only. Every reason a caller could not make
the change is answered before the uniqueness check, so `unique` never tells a caller who
could not have changed the address whether another account uses it.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import EMAIL_CHANGES_PER_HOUR
from authn.api_keys.services import api_key_create
from authn.tokens.jwt import access_token_issue
from tests.authn.mfa_helpers import enrol
from tests.factories import AdminFactory, ServiceAccountFactory, UserFactory

TAKEN = "taken@example.org"
FREE = "free@example.org"


@pytest.fixture
def taken(db: Any) -> User:
    return UserFactory.create(email=TAKEN)


def bearer(raw: str, ip: str = "198.51.100.20") -> APIClient:
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def key_client(user: User, scopes: list[str]) -> APIClient:
    minted = api_key_create(owner=user, name="k", scopes=scopes, expires_in_days=5, actor=None)
    return bearer(minted.key)


def signed_in(user: User, *, amr: tuple[str, ...] = ("pwd",), ip: str = "198.51.100.20") -> Any:
    """A client with a password sign-in made just now (all scopes the user holds)."""
    from accounts.principals import principal_for_user

    held = principal_for_user(user, method="jwt")
    issued = access_token_issue(
        subject=user.pk,
        username=user.username,
        kind=user.kind,
        scopes=held.scopes,
        group_ids=held.group_ids,
        amr=amr,
        auth_time=int(time.time()),
    )
    return bearer(issued.token, ip)


def rest_email(client: APIClient, user: User, email: str) -> Any:
    return client.patch(f"/api/v1/users/{user.pk}", {"email": email}, format="json")


def rpc_email(client: APIClient, user: User, email: str) -> Any:
    body = json.dumps({"id": str(user.pk), "email": email})
    return client.post("/user/update", body, content_type="application/json")


CHANGES = {"rest": rest_email, "rpc": rpc_email}


def outcome(response: Any) -> tuple[int, str]:
    return response.status_code, response.json().get("code", "")


# --- item: the email-existence oracle ---------------------------------------------------------


@pytest.mark.parametrize("via", CHANGES)
def test_a_profile_key_gets_the_same_refusal_for_a_taken_and_a_free_address(
    user: User, taken: User, via: str
) -> None:
    client = key_client(user, ["profile"])

    answers = {outcome(CHANGES[via](client, user, email)) for email in (TAKEN, FREE)}

    assert answers == {(403, "recent_sign_in_required")}
    user.refresh_from_db()
    assert user.email not in (TAKEN, FREE)


@pytest.mark.parametrize("via", CHANGES)
def test_a_fresh_sign_in_learns_that_an_address_is_taken(user: User, taken: User, via: str) -> None:
    """Whoever could make the change gets `unique`, as a sign-up would."""
    response = CHANGES[via](signed_in(user), user, TAKEN)

    assert outcome(response) == (409, "unique")


@pytest.mark.parametrize("via", CHANGES)
def test_email_changes_are_throttled_per_client_ip(user: User, taken: User, via: str) -> None:
    others = UserFactory.create_batch(2)
    statuses = [
        CHANGES[via](signed_in(someone), someone, TAKEN).status_code
        for someone in [user, *others] * EMAIL_CHANGES_PER_HOUR
    ][: EMAIL_CHANGES_PER_HOUR + 1]

    assert statuses[:-1] == [409] * EMAIL_CHANGES_PER_HOUR
    assert statuses[-1] == 429


@pytest.mark.parametrize("via", CHANGES)
def test_email_changes_are_throttled_per_account(user: User, taken: User, via: str) -> None:
    for attempt in range(EMAIL_CHANGES_PER_HOUR):
        ip = f"192.0.2.{attempt + 1}"
        assert CHANGES[via](signed_in(user, ip=ip), user, TAKEN).status_code == 409

    response = CHANGES[via](signed_in(user, ip="203.0.113.50"), user, FREE)

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    user.refresh_from_db()
    assert user.email != FREE


def test_the_dashboard_profile_form_is_throttled_too(user: User, taken: User) -> None:
    from django.test import Client

    from tests.authn.dashboard_helpers import sign_in

    browser = Client()
    sign_in(browser, user)
    statuses = [
        browser.post("/dashboard/", {"email": TAKEN}).status_code
        for _ in range(EMAIL_CHANGES_PER_HOUR + 1)
    ]

    assert statuses[:-1] == [400] * EMAIL_CHANGES_PER_HOUR
    assert statuses[-1] == 429


def test_other_profile_fields_are_not_throttled(user: User) -> None:
    client = key_client(user, ["profile"])
    for attempt in range(EMAIL_CHANGES_PER_HOUR + 2):
        response = client.patch(
            f"/api/v1/users/{user.pk}", {"display_name": f"Name {attempt}"}, format="json"
        )
        assert response.status_code == 200


# --- item: another user's email ---------------------------------------------------------------


@pytest.mark.parametrize("via", CHANGES)
def test_users_write_cannot_change_another_users_email(user: User, taken: User, via: str) -> None:
    operator = ServiceAccountFactory.create(scopes=["users:write", "users:read"])
    client = signed_in(operator)

    answers = {outcome(CHANGES[via](client, user, email)) for email in (TAKEN, FREE)}

    assert answers == {(403, "insufficient_scope")}
    user.refresh_from_db()
    assert user.email not in (TAKEN, FREE)


@pytest.mark.parametrize("via", CHANGES)
def test_users_write_keeps_the_other_fields(user: User, via: str) -> None:
    operator = ServiceAccountFactory.create(scopes=["users:write", "users:read"])
    client = signed_in(operator)
    if via == "rest":
        response = client.patch(
            f"/api/v1/users/{user.pk}",
            {"display_name": "Renamed", "username": "renamed", "email": user.email},
            format="json",
        )
    else:
        body = json.dumps({"id": str(user.pk), "display_name": "Renamed", "username": "renamed"})
        response = client.post("/user/update", body, content_type="application/json")

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.display_name, user.username) == ("Renamed", "renamed")


@pytest.mark.parametrize("via", CHANGES)
def test_api_admin_without_mfa_may_change_another_users_email(user: User, via: str) -> None:
    admin = AdminFactory.create()

    response = CHANGES[via](signed_in(admin), user, FREE)

    assert response.status_code == 200
    user.refresh_from_db()
    assert (user.email, user.email_verified) == (FREE, False)


@pytest.mark.parametrize("via", CHANGES)
def test_api_admin_with_mfa_needs_a_recent_one_time_code(user: User, via: str) -> None:
    admin = AdminFactory.create()
    enrol(admin)

    without_code = CHANGES[via](signed_in(admin), user, FREE)
    with_key = CHANGES[via](key_client(admin, ["api_admin"]), user, FREE)

    assert outcome(without_code) == (403, "fresh_mfa_required")
    assert outcome(with_key) == (403, "fresh_mfa_required")
    user.refresh_from_db()
    assert user.email != FREE
    with_code = CHANGES[via](signed_in(admin, amr=("pwd", "otp")), user, FREE)
    assert with_code.status_code == 200
    user.refresh_from_db()
    assert user.email == FREE


def test_an_admin_whose_account_is_gone_is_refused_another_users_email(db: Any) -> None:
    """Without a row there is no telling whether the administrator has MFA: refuse."""
    import uuid

    from accounts import services
    from micro_platform.identity import Principal
    from micro_platform.sign_in import FreshMfaRequired

    target = UserFactory.create()
    ghost = Principal(
        user_id=uuid.uuid4(),
        username="gone",
        kind="user",
        group_ids=(),
        scopes=frozenset({"api_admin"}),
        method="api_key",
        amr=("api_key",),
    )

    with pytest.raises(FreshMfaRequired):
        services.user_update(actor=ghost, user=target, changes={"email": "new@example.com"})
    target.refresh_from_db()
    assert target.email != "new@example.com"
