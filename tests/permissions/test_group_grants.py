"""Group grants follow membership: revoking a group grant or a membership denies at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from accounts.principals import principal_for_user
from accounts.services import group_member_remove
from authn.api_keys.services import api_key_create
from micro_platform.identity import Principal
from tests.factories import GroupFactory, MembershipFactory
from tests.permissions.helpers import ACCESS_URL, grant, make_object, object_url

pytestmark = pytest.mark.django_db(databases="__all__")
Client = Callable[..., APIClient]


def signed_in(user: User) -> Principal:
    """The administrator's own password sign-in: changing members needs a person's sign-in."""
    return principal_for_user(user, method="jwt", amr=("pwd",))


@pytest.fixture
def shared(user: User, other_user: User) -> tuple[object, object]:
    """An object of `user` readable by a group that `other_user` belongs to."""
    obj = make_object(user)
    group = GroupFactory.create()
    MembershipFactory.create(group=group, user=other_user)
    grant(obj, group.pk, subject_type="group", read=True)
    return obj, group


def test_group_grant_lets_members_read_and_list(
    client_for: Client, other_user: User, admin_user: User, shared: tuple
) -> None:
    obj, _ = shared
    member = client_for(other_user)
    assert member.get(object_url(obj)).status_code == 200
    assert [row["id"] for row in member.get("/api/v1/objects").json()["results"]] == [obj.pk]
    assert member.patch(object_url(obj), {"name": "x"}).status_code == 403
    assert client_for(admin_user).get(object_url(obj)).status_code == 404  # not a member


def test_removed_member_loses_access_with_the_next_token(
    client_for: Client, other_user: User, admin_user: User, shared: tuple
) -> None:
    obj, group = shared
    group_member_remove(actor=signed_in(admin_user), group=group, user_id=other_user.pk)
    assert client_for(other_user).get(object_url(obj)).status_code == 404


def test_removed_member_loses_access_on_the_next_session_request(
    session_client: Callable[[User], APIClient], other_user: User, admin_user: User, shared: tuple
) -> None:
    obj, group = shared
    session = session_client(other_user)
    assert session.get(object_url(obj)).status_code == 200
    group_member_remove(actor=signed_in(admin_user), group=group, user_id=other_user.pk)
    assert session.get(object_url(obj)).status_code == 404


def test_removed_member_loses_access_on_the_next_api_key_request(
    other_user: User, admin_user: User, shared: tuple, django_capture_on_commit_callbacks: Any
) -> None:
    """The API-key cache holds the owner's groups; a membership change invalidates it."""
    obj, group = shared
    minted = api_key_create(
        owner=other_user, name="k", scopes=["objects:read"], expires_in_days=5, actor=None
    )
    keyed = APIClient()
    keyed.credentials(HTTP_X_API_KEY=minted.key)
    assert keyed.get(object_url(obj)).status_code == 200  # and now the entry is cached
    with django_capture_on_commit_callbacks(execute=True):  # the invalidation runs on commit
        group_member_remove(actor=signed_in(admin_user), group=group, user_id=other_user.pk)
    assert keyed.get(object_url(obj)).status_code == 404


def test_revoking_the_group_grant_denies_the_next_request(
    client_for: Client, user: User, other_user: User, shared: tuple
) -> None:
    obj, group = shared
    member = client_for(other_user)
    assert member.get(object_url(obj)).status_code == 200
    listed = client_for(user).get(ACCESS_URL, {"object_type": "object", "object_id": obj.pk})
    group_row = next(r for r in listed.json()["results"] if r["subject_id"] == str(group.pk))
    assert client_for(user).delete(f"{ACCESS_URL}/{group_row['id']}").status_code == 204
    assert member.get(object_url(obj)).status_code == 404


def test_forged_groups_claim_is_rejected(other_user: User, shared: tuple) -> None:
    """The groups claim is signed: editing it invalidates the token instead of granting."""
    obj, group = shared
    from tests.conftest import token_for

    token = token_for(other_user)
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload[:-2]}AA.{signature}"
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {forged}")
    assert client.get(object_url(obj)).status_code == 401
