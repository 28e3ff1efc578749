"""Grants API (docs/objects.md): api_admin, delegated object admins, check."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from permissions.models import Grant
from tests.factories import GroupFactory, MembershipFactory
from tests.permissions.helpers import (
    ACCESS_URL,
    CHECK_URL,
    grant,
    grants_queries,
    make_object,
    object_url,
)

pytestmark = pytest.mark.django_db(databases="__all__")
Client = Callable[..., APIClient]


def body(object_id: str, subject: User, **flags: bool) -> dict[str, Any]:
    return {
        "object_type": "object",
        "object_id": object_id,
        "subject_type": "user",
        "subject_id": str(subject.pk),
        **flags,
    }


def test_api_admin_grants_any_object_and_the_grant_is_audited(
    admin_client: APIClient, admin_user: User, user: User
) -> None:
    response = admin_client.post(ACCESS_URL, body("invoice-7", user, read=True))
    assert response.status_code == 201
    data = response.json()
    assert (data["read"], data["write"], data["admin"]) == (True, False, False)
    assert data["granted_by"] == str(admin_user.pk)
    event = AuditEvent.objects.get(type="access.granted", subject_id="invoice-7")
    assert event.actor_id == admin_user.pk
    assert event.data["subject_id"] == str(user.pk)


def test_posting_again_replaces_the_one_row(admin_client: APIClient, user: User) -> None:
    admin_client.post(ACCESS_URL, body("o1", user, read=True, write=True))
    response = admin_client.post(ACCESS_URL, body("o1", user, read=True))
    assert response.status_code == 201
    rows = Grant.objects.filter(object_id="o1")
    assert [(row.read, row.write) for row in rows] == [(True, False)]


def test_plain_user_cannot_grant_on_someone_elses_object(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    response = client_for(other_user).post(ACCESS_URL, body(obj.pk, other_user, read=True))
    assert response.status_code == 403
    assert response.json()["code"] == "not_object_admin"
    assert not Grant.objects.filter(subject_id=other_user.pk).exists()
    assert client_for(other_user).get(object_url(obj)).status_code == 404


def test_object_admin_delegates_and_delegated_admin_may_grant_too(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    third = User.objects.create_user(username="third", password="x-Password-9")
    owner = client_for(user)
    assert owner.post(ACCESS_URL, body(obj.pk, other_user, read=True)).status_code == 201
    reader = client_for(other_user)
    assert reader.post(ACCESS_URL, body(obj.pk, third, read=True)).status_code == 403
    assert (
        owner.post(ACCESS_URL, body(obj.pk, other_user, read=True, admin=True)).status_code == 201
    )
    assert reader.post(ACCESS_URL, body(obj.pk, third, read=True)).status_code == 201
    assert client_for(third).get(object_url(obj)).status_code == 200


def test_group_admin_grant_delegates_to_members(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    group = GroupFactory.create()
    MembershipFactory.create(group=group, user=other_user)
    grant(obj, group.pk, subject_type="group", read=True, admin=True)
    third = User.objects.create_user(username="third", password="x-Password-9")
    response = client_for(other_user).post(ACCESS_URL, body(obj.pk, third, read=True))
    assert response.status_code == 201


@pytest.mark.parametrize(
    "patch",
    [
        {"subject_type": "robot"},
        {"subject_id": "not-a-uuid"},
        {"object_id": "x" * 256},
        {"object_type": "t" * 65},
        {"object_id": ""},
        {"read": False},
        {"read": "maybe"},
        {"extra": 1},
        {"object_id": "nul\u0000"},
    ],
)
def test_grant_rejects_bad_input(
    admin_client: APIClient, user: User, patch: dict[str, Any]
) -> None:
    data = {**body("o1", user, read=True), **patch}
    response = admin_client.post(ACCESS_URL, data, format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert not Grant.objects.exists()


def test_anonymous_gets_401_on_every_grants_endpoint(anon_client: APIClient, user: User) -> None:
    row = grant("o1", user, read=True)
    responses = [
        anon_client.post(ACCESS_URL, body("o1", user, read=True)),
        anon_client.get(ACCESS_URL),
        anon_client.delete(f"{ACCESS_URL}/{row.pk}"),
        anon_client.post(
            CHECK_URL, {"object_type": "object", "object_id": "o1", "permission": "read"}
        ),
    ]
    assert [r.status_code for r in responses] == [401, 401, 401, 401]
    assert Grant.objects.filter(pk=row.pk).exists()


def test_grants_endpoints_need_their_objects_scope(client_for: Client, user: User) -> None:
    """Even an object's admin: listing needs `objects:read`, granting and revoking
    `objects:write`; `check` needs no scope (a caller asking about themselves)."""
    obj = make_object(user)
    row = Grant.objects.get(object_id=obj.pk)
    no_objects_scope = client_for(user, frozenset({"profile"}))
    read_only = client_for(user, frozenset({"profile", "objects:read"}))
    refused = [
        no_objects_scope.get(ACCESS_URL, {"object_type": "object", "object_id": obj.pk}),
        read_only.post(ACCESS_URL, body(obj.pk, user, read=True)),
        read_only.delete(f"{ACCESS_URL}/{row.pk}"),
    ]
    assert [(r.status_code, r.json()["code"]) for r in refused] == [(403, "insufficient_scope")] * 3
    assert Grant.objects.filter(pk=row.pk, admin=True).exists()
    check = no_objects_scope.post(
        CHECK_URL, {"object_type": "object", "object_id": obj.pk, "permission": "admin"}
    )
    assert check.json() == {"allowed": True}


def test_admin_lists_grants_with_filters(
    admin_client: APIClient, user: User, other_user: User
) -> None:
    grant("o1", user, read=True)
    grant("o1", other_user, write=True)
    grant("o2", user, read=True)
    every = admin_client.get(ACCESS_URL).json()["results"]
    assert len(every) == 3
    filtered = admin_client.get(ACCESS_URL, {"object_id": "o1", "subject_id": str(user.pk)})
    assert [row["object_id"] for row in filtered.json()["results"]] == ["o1"]
    assert admin_client.get(ACCESS_URL, {"subject_id": "nope"}).status_code == 400
    assert admin_client.get(ACCESS_URL, {"bogus": "1"}).status_code == 400


def test_object_admin_lists_only_their_objects_grants(
    client_for: Client, user: User, other_user: User
) -> None:
    mine, theirs = make_object(user), make_object(other_user)
    client = client_for(user)
    listed = client.get(ACCESS_URL, {"object_type": "object", "object_id": mine.pk})
    assert listed.status_code == 200
    assert [row["subject_id"] for row in listed.json()["results"]] == [str(user.pk)]
    assert client.get(ACCESS_URL).status_code == 403
    assert (
        client.get(ACCESS_URL, {"object_type": "object", "object_id": theirs.pk}).status_code == 403
    )


def test_revoke_by_admin_object_admin_and_not_by_others(
    client_for: Client, admin_client: APIClient, user: User, other_user: User
) -> None:
    obj = make_object(user)
    reader = grant(obj, other_user, read=True)
    assert client_for(other_user).delete(f"{ACCESS_URL}/{reader.pk}").status_code == 403
    assert client_for(user).delete(f"{ACCESS_URL}/{reader.pk}").status_code == 204
    assert AuditEvent.objects.filter(type="access.revoked", data__grant_id=str(reader.pk)).exists()
    again = grant(obj, other_user, read=True)
    assert admin_client.delete(f"{ACCESS_URL}/{again.pk}").status_code == 204
    assert admin_client.delete(f"{ACCESS_URL}/{again.pk}").status_code == 404
    assert admin_client.delete(f"{ACCESS_URL}/not-a-uuid").status_code == 404


def test_revocation_takes_effect_on_the_next_request(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    row = grant(obj, other_user, read=True)
    reader = client_for(other_user)
    assert reader.get(object_url(obj)).status_code == 200
    assert client_for(user).delete(f"{ACCESS_URL}/{row.pk}").status_code == 204
    assert reader.get(object_url(obj)).status_code == 404


def check(client: APIClient, object_id: str, permission: str, **extra: Any) -> Any:
    data = {"object_type": "object", "object_id": object_id, "permission": permission, **extra}
    return client.post(CHECK_URL, data, format="json")


def test_check_about_self_in_one_query(client_for: Client, user: User, other_user: User) -> None:
    obj = make_object(user)
    grant(obj, other_user, read=True)
    client = client_for(other_user)
    check(client, obj.pk, "read")  # warm the signing-key ring
    with grants_queries() as queries:
        allowed = check(client, obj.pk, "read")
    assert allowed.json() == {"allowed": True}
    assert len(queries.captured_queries) == 1
    assert check(client, obj.pk, "write").json() == {"allowed": False}
    assert check(client, obj.pk, "read", subject_id=str(other_user.pk)).json() == {"allowed": True}


def test_check_counts_group_grants(client_for: Client, user: User, other_user: User) -> None:
    group = GroupFactory.create()
    MembershipFactory.create(group=group, user=other_user)
    grant("o9", group.pk, subject_type="group", write=True)
    assert check(client_for(other_user), "o9", "write").json() == {"allowed": True}
    assert check(client_for(user), "o9", "write").json() == {"allowed": False}


def test_check_about_another_subject_needs_api_admin(
    client_for: Client, admin_client: APIClient, user: User, other_user: User
) -> None:
    group = GroupFactory.create()
    MembershipFactory.create(group=group, user=other_user)
    grant("o9", group.pk, subject_type="group", read=True)
    denied = check(client_for(user), "o9", "read", subject_id=str(other_user.pk))
    assert denied.status_code == 403
    allowed = check(admin_client, "o9", "read", subject_id=str(other_user.pk))
    assert allowed.json() == {"allowed": True}
    assert check(admin_client, "o9", "read", subject_id=str(uuid.uuid4())).json() == {
        "allowed": False
    }


@pytest.mark.parametrize(
    "extra",
    [{"permission": "own"}, {"subject_id": "x"}, {"object_id": "x" * 256}, {"unknown": True}],
)
def test_check_rejects_bad_input(user_client: APIClient, extra: dict[str, Any]) -> None:
    data = {"object_type": "object", "object_id": "o", "permission": "read", **extra}
    assert user_client.post(CHECK_URL, data, format="json").status_code == 400
