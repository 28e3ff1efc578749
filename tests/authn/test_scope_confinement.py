"""Endpoints that let any credential through: group membership, `/me`, logout-all, the group
list. A group admin's API key holding only `objects:read`, or a third-party app's token that
asked only for `openid`, must not manage members, read the private profile or sign out
everywhere; a person's own sign-in still does."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils.crypto import get_random_string
from rest_framework.test import APIClient

from accounts.models import Group, Membership, User
from accounts.principals import principal_for_user
from authn.api_keys.services import api_key_create
from authn.credentials.services import logout_all
from micro_platform.sign_in import SignInRequired
from tests.authn.oauth_helpers import OAuthClient, code_flow_tokens
from tests.factories import GroupFactory, MembershipFactory, UserFactory

PROBLEM = "application/problem+json"
ME = "/api/v1/me"
LOGOUT_ALL = "/api/v1/auth/logout-all"
PRIVATE_FIELDS = {"email", "email_verified", "is_active", "last_login_at"}


@pytest.fixture
def group(member: User) -> Group:
    """A group `member` administers, granting `users:write` to its members."""
    return MembershipFactory.create(
        user=member, role=Membership.Role.ADMIN, group__scopes=["users:write"]
    ).group


@pytest.fixture
def outsider(db: Any) -> User:
    return UserFactory.create()


def key_client(owner: User, scopes: Iterable[str]) -> APIClient:
    key = api_key_create(owner=owner, name="k", scopes=list(scopes), actor=None).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def oauth_client(browser: Client, web_client: OAuthClient, scope: str) -> APIClient:
    """A third-party app's access token for the signed-in `member`."""
    tokens = code_flow_tokens(browser, web_client, scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access_token']}")
    return client


def members_url(group: Group) -> str:
    return f"/api/v1/groups/{group.pk}/members"


def assert_refused(response: Any, code: str) -> None:
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["code"] == code


# --- Group membership -----------------------------------------------------------------------


@pytest.fixture
def weak_credentials(
    member: User, browser: Client, web_client: OAuthClient
) -> dict[str, Callable[[], APIClient]]:
    return {
        "objects_read_key": lambda: key_client(member, ["objects:read"]),
        "openid_app_token": lambda: oauth_client(browser, web_client, "openid"),
    }


@pytest.mark.parametrize("credential", ["objects_read_key", "openid_app_token"])
def test_a_group_admins_narrow_credential_cannot_add_a_member(
    weak_credentials, credential, group, outsider
):
    client = weak_credentials[credential]()

    response = client.post(members_url(group), {"user_id": str(outsider.pk)}, format="json")

    assert_refused(response, "insufficient_scope")
    assert not Membership.objects.filter(group=group, user=outsider).exists()


@pytest.mark.parametrize("credential", ["objects_read_key", "openid_app_token"])
def test_a_group_admins_narrow_credential_cannot_remove_a_member(
    weak_credentials, credential, group, outsider
):
    MembershipFactory.create(group=group, user=outsider)
    client = weak_credentials[credential]()

    response = client.delete(f"{members_url(group)}/{outsider.pk}")

    assert_refused(response, "insufficient_scope")
    assert Membership.objects.filter(group=group, user=outsider).exists()


def test_a_group_admins_profile_key_is_not_a_sign_in(member, group, outsider):
    client = key_client(member, ["profile", "users:write"])

    added = client.post(members_url(group), {"user_id": str(outsider.pk)}, format="json")
    MembershipFactory.create(group=group, user=outsider)
    removed = client.delete(f"{members_url(group)}/{outsider.pk}")

    assert_refused(added, "sign_in_required")
    assert_refused(removed, "sign_in_required")


def test_an_apps_profile_token_is_not_a_sign_in(browser, web_client, group, outsider):
    client = oauth_client(browser, web_client, "openid profile")

    response = client.post(members_url(group), {"user_id": str(outsider.pk)}, format="json")

    assert_refused(response, "sign_in_required")


def test_a_group_admin_signed_in_manages_members(client_for, member, group, outsider):
    client = client_for(member)  # a password-grant token

    added = client.post(members_url(group), {"user_id": str(outsider.pk)}, format="json")
    removed = client.delete(f"{members_url(group)}/{outsider.pk}")

    assert added.status_code == 201, added.content
    assert removed.status_code == 204, removed.content


def test_a_group_admins_dashboard_session_adds_a_member(session_client, member, group, outsider):
    client = session_client(member)
    csrf = get_random_string(32)
    client.cookies[settings.CSRF_COOKIE_NAME] = csrf

    response = client.post(
        members_url(group), {"user_id": str(outsider.pk)}, format="json", HTTP_X_CSRFTOKEN=csrf
    )

    assert response.status_code == 201, response.content


def test_a_users_write_sign_in_manages_any_groups_members(client_for, outsider, db):
    editor = MembershipFactory.create(group__scopes=["users:write"]).user
    other = GroupFactory.create()

    response = client_for(editor).post(
        members_url(other), {"user_id": str(outsider.pk)}, format="json"
    )

    assert response.status_code == 201, response.content


def test_users_write_does_not_manage_an_api_admin_group(client_for, outsider, db):
    editor = MembershipFactory.create(group__scopes=["users:write"]).user
    admins = GroupFactory.create(scopes=["api_admin"])

    response = client_for(editor).post(
        members_url(admins), {"user_id": str(outsider.pk)}, format="json"
    )

    assert_refused(response, "permission_denied")


# --- /me --------------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["objects_read_key", "openid_app_token"])
def test_me_needs_profile_or_users_read(weak_credentials, credential):
    assert_refused(weak_credentials[credential]().get(ME), "insufficient_scope")


def test_me_without_profile_is_the_public_view(member):
    response = key_client(member, ["users:read"]).get(ME)

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["user"]["username"] == member.username
    assert not PRIVATE_FIELDS & set(body["user"])
    assert body["scopes"] == ["users:read"]
    assert body["auth_method"] == "api_key"
    assert "groups" in body


def test_ones_own_user_without_profile_is_the_public_view_on_every_path(member):
    """The private view is one rule: `/users/{own id}` and RPC `read` of oneself answer a
    `users:read` key the public view, as `/me` does."""
    client = key_client(member, ["users:read"])

    rest = client.get(f"/api/v1/users/{member.pk}")
    rpc = client.post("/user/read", {"id": str(member.pk)}, format="json")

    for response in (rest, rpc):
        assert response.status_code == 200, response.content
    for user in (rest.json(), rpc.json()["user"]):
        assert user["username"] == member.username
        assert not PRIVATE_FIELDS & set(user)


def test_ones_own_user_with_profile_is_the_private_view_on_every_path(member):
    client = key_client(member, ["profile", "users:read"])

    rest = client.get(f"/api/v1/users/{member.pk}").json()
    rpc = client.post("/user/read", {"id": str(member.pk)}, format="json").json()["user"]

    for user in (rest, rpc):
        assert user["email"] == member.email
        assert set(user) >= PRIVATE_FIELDS


def test_me_with_profile_is_the_private_view(member, browser, web_client):
    body = oauth_client(browser, web_client, "openid profile").get(ME).json()

    assert body["user"]["email"] == member.email
    assert set(body["user"]) >= PRIVATE_FIELDS


# --- logout-all -------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["objects_read_key", "openid_app_token"])
def test_logout_all_needs_profile(weak_credentials, credential, client_for, member):
    signed_in = client_for(member)

    assert_refused(weak_credentials[credential]().post(LOGOUT_ALL), "insufficient_scope")
    assert signed_in.get(ME).status_code == 200  # nothing was revoked


def test_logout_all_needs_a_persons_sign_in(member, browser, web_client, client_for):
    signed_in = client_for(member)

    assert_refused(key_client(member, ["profile"]).post(LOGOUT_ALL), "sign_in_required")
    app = oauth_client(browser, web_client, "openid profile")
    assert_refused(app.post(LOGOUT_ALL), "sign_in_required")
    assert signed_in.get(ME).status_code == 200


@pytest.mark.parametrize("api_keys", [False, True])
def test_logout_all_refuses_a_key_in_the_service_itself(member, client_for, api_keys):
    signed_in = client_for(member)
    minted = api_key_create(owner=member, name="k", scopes=["profile"], actor=None)
    keyed = principal_for_user(member, method="api_key", amr=("api_key",))

    with pytest.raises(SignInRequired):
        logout_all(principal=keyed, ip_address=None, api_keys=api_keys)

    assert signed_in.get(ME).status_code == 200
    minted.api_key.refresh_from_db()
    assert minted.api_key.revoked_at is None


def test_logout_all_by_a_password_sign_in_still_works(client_for, member):
    client = client_for(member)

    assert client.post(LOGOUT_ALL).status_code == 204
    assert client.get(ME).status_code == 401


# --- GET /groups ------------------------------------------------------------------------------


@pytest.mark.parametrize("credential", ["objects_read_key", "openid_app_token"])
def test_listing_groups_needs_users_read(weak_credentials, credential, group):
    assert_refused(weak_credentials[credential]().get("/api/v1/groups"), "insufficient_scope")


def test_listing_groups_with_users_read_works(member, group):
    response = key_client(member, ["users:read"]).get("/api/v1/groups")

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(group.pk)]
