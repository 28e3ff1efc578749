"""Objects API (docs/objects.md): grants decide, existence is hidden."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from micro_platform import scopes as sc
from objects.models import Object
from permissions.models import Grant
from tests.permissions.helpers import OBJECTS_URL, grant, grants_queries, make_object, object_url

pytestmark = pytest.mark.django_db(databases="__all__")
Client = Callable[..., APIClient]


def test_create_returns_object_and_grants_creator_everything(
    user: User, user_client: APIClient
) -> None:
    response = user_client.post(OBJECTS_URL, {"name": "doc", "value": {"a": [1, 2]}})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "name", "value", "owner_id", "version", "created_at", "updated_at"}
    assert body["owner_id"] == str(user.pk)
    assert body["version"] == 1
    assert body["value"] == {"a": [1, 2]}
    row = Grant.objects.get(object_type="object", object_id=body["id"])
    assert (row.subject_id, row.read, row.write, row.admin) == (user.pk, True, True, True)
    assert AuditEvent.objects.filter(type="access.granted", subject_id=body["id"]).count() == 1


@pytest.mark.parametrize(
    "body",
    [
        {"name": "x" * 201},
        {"name": ""},
        {"value": 1},
        {"name": "doc", "owner_id": "00000000-0000-0000-0000-000000000001"},
        {"name": "doc", "id": "00000000-0000-0000-0000-000000000001"},
        {"name": "doc", "version": 7},
        {"name": "doc", "value": {"s": "nul\u0000byte"}},
        {"name": "nul\u0000name"},
        {"name": ["not", "a", "string"]},
    ],
)
def test_create_rejects_bad_input(user_client: APIClient, body: dict[str, Any]) -> None:
    response = user_client.post(OBJECTS_URL, body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert not Object.objects.exists()


@pytest.mark.parametrize(
    "raw",
    [
        '{"name": "a", "value": {"k": "\\ud800"}}',
        '{"name": "a", "value": {"\\udfff": 1}}',
        '{"name": "a", "value": "\\udfff"}',
        '{"name": "\\ud800x", "value": 1}',
        '{"name": "a", "value": ["ok", {"deep": ["\\udbff"]}]}',
    ],
)
def test_create_refuses_a_lone_surrogate_and_stores_nothing(
    user_client: APIClient, raw: str
) -> None:
    """JSON may escape half a surrogate pair; it is not text and must not reach the database
    (SQLite would store it and every later read of the object would fail)."""
    response = user_client.generic("POST", OBJECTS_URL, raw, content_type="application/json")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/problem+json")
    assert not Object.objects.exists()


def test_a_surrogate_pair_is_text_and_is_kept(user_client: APIClient) -> None:
    raw = '{"name": "emoji \\ud83d\\ude00", "value": {"\\ud83d\\udc4d": "\\ud83d\\ude00"}}'
    response = user_client.generic("POST", OBJECTS_URL, raw, content_type="application/json")
    assert response.status_code == 201
    body = user_client.get(f"{OBJECTS_URL}/{response.json()['id']}").json()
    assert (body["name"], body["value"]) == ("emoji \U0001f600", {"\U0001f44d": "\U0001f600"})


def test_patch_refuses_a_lone_surrogate_and_changes_nothing(
    user: User, user_client: APIClient
) -> None:
    obj = make_object(user)
    raw = '{"value": {"k": "\\ud800"}}'
    response = user_client.generic("PATCH", object_url(obj), raw, content_type="application/json")
    assert response.status_code == 400
    obj.refresh_from_db()
    assert (obj.version, obj.value) == (1, {"n": 0})
    assert user_client.get(object_url(obj)).status_code == 200


def test_create_leaves_no_object_when_the_creator_grant_fails(
    monkeypatch: pytest.MonkeyPatch, user_client: APIClient
) -> None:
    """The object and its creator's grant are one transaction: no object nobody may reach."""
    from permissions import services as grant_services

    def broken(**_: Any) -> None:
        raise RuntimeError("grants store down")

    monkeypatch.setattr(grant_services, "audit_record", broken)
    with pytest.raises(RuntimeError):
        user_client.post(OBJECTS_URL, {"name": "doc", "value": 1})
    assert not Object.objects.exists()
    assert not Grant.objects.exists()


def test_deeply_nested_value_is_rejected(user_client: APIClient) -> None:
    value: Any = 1
    for _ in range(40):
        value = [value]
    assert user_client.post(OBJECTS_URL, {"name": "deep", "value": value}).status_code == 400


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("post", ""), ("get", "/x"), ("patch", "/x"), ("delete", "/x")],
)
def test_anonymous_gets_401(anon_client: APIClient, user: User, method: str, path: str) -> None:
    obj = make_object(user)
    url = OBJECTS_URL + path.replace("x", obj.pk)
    response = getattr(anon_client, method)(url, {"name": "n"} if method != "get" else None)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "held"),
    [
        ("get", sc.OBJECTS_WRITE),
        ("post", sc.OBJECTS_READ),
        ("patch", sc.OBJECTS_READ),
        ("delete", sc.OBJECTS_READ),
    ],
)
def test_missing_scope_is_403_even_for_the_owner(
    client_for: Client, user: User, method: str, held: str
) -> None:
    obj = make_object(user)
    client = client_for(user, frozenset({sc.PROFILE, held}))
    url = object_url(obj) if method in ("patch", "delete") else OBJECTS_URL
    response = getattr(client, method)(url, {"name": "n"} if method != "get" else None)
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    obj.refresh_from_db()
    assert (obj.name, obj.version) == ("doc", 1)


def test_other_user_cannot_read_patch_or_delete_and_learns_nothing(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user, value={"secret": "s3"})
    intruder = client_for(other_user)
    missing = object_url("6f1c2d8e-0000-4000-8000-000000000000")
    for url in (object_url(obj), missing):
        read, patch = intruder.get(url), intruder.patch(url, {"name": "pwned"})
        delete = intruder.delete(url)
        assert (read.status_code, patch.status_code, delete.status_code) == (404, 404, 404)
        assert read.json()["detail"] == patch.json()["detail"] == delete.json()["detail"]
        assert "s3" not in read.content.decode()
    obj.refresh_from_db()
    assert (obj.name, obj.version) == ("doc", 1)
    assert intruder.get(OBJECTS_URL).json()["results"] == []


def test_read_only_grant_can_read_but_not_patch_or_delete(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    grant(obj, other_user, read=True)
    reader = client_for(other_user)
    assert reader.get(object_url(obj)).status_code == 200
    assert reader.patch(object_url(obj), {"name": "changed"}).status_code == 403
    assert reader.delete(object_url(obj)).status_code == 403
    obj.refresh_from_db()
    assert (obj.name, obj.version) == ("doc", 1)


def test_write_grant_can_patch_but_not_delete(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    grant(obj, other_user, read=True, write=True)
    writer = client_for(other_user)
    response = writer.patch(object_url(obj), {"value": {"n": 5}})
    assert response.status_code == 200
    assert response.json()["value"] == {"n": 5}
    assert response.json()["owner_id"] == str(user.pk)
    assert writer.delete(object_url(obj)).status_code == 403
    assert Object.objects.filter(pk=obj.pk).exists()


def test_write_only_grant_without_read_stays_hidden(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    grant(obj, other_user, write=True)
    blind = client_for(other_user)
    assert blind.get(object_url(obj)).status_code == 404
    assert blind.patch(object_url(obj), {"name": "changed"}).status_code == 404
    obj.refresh_from_db()
    assert obj.name == "doc"


def test_admin_grant_deletes_object_and_its_grants(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    grant(obj, other_user, read=True, admin=True)
    assert client_for(other_user).delete(object_url(obj)).status_code == 204
    assert not Object.objects.filter(pk=obj.pk).exists()
    assert not Grant.objects.filter(object_id=obj.pk).exists()
    assert AuditEvent.objects.filter(type="access.revoked", subject_id=obj.pk).count() == 2
    assert client_for(user).get(object_url(obj)).status_code == 404


def test_patch_with_current_version_succeeds_and_stale_version_is_409(
    user: User, user_client: APIClient
) -> None:
    obj = make_object(user)
    first = user_client.patch(object_url(obj), {"name": "v2", "version": 1})
    assert first.status_code == 200
    assert first.json()["version"] == 2
    stale = user_client.patch(object_url(obj), {"name": "lost", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["code"] == "version_conflict"
    obj.refresh_from_db()
    assert (obj.name, obj.version) == ("v2", 2)


def test_patch_without_version_still_bumps_it(user: User, user_client: APIClient) -> None:
    obj = make_object(user)
    assert user_client.patch(object_url(obj), {"value": None}).json()["version"] == 2


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "x" * 201},
        {"owner_id": "00000000-0000-0000-0000-000000000001"},
        {"id": "00000000-0000-0000-0000-000000000001", "name": "n"},
        {"name": "n", "version": 0},
        {"name": "n", "version": "one"},
        {"name": "n", "created_at": "2020-01-01T00:00:00Z"},
    ],
)
def test_patch_rejects_bad_input(user: User, user_client: APIClient, body: dict[str, Any]) -> None:
    obj = make_object(user)
    assert user_client.patch(object_url(obj), body, format="json").status_code == 400
    obj.refresh_from_db()
    assert (obj.owner_id, obj.version, obj.name) == (user.pk, 1, "doc")


@pytest.mark.parametrize("object_id", ["not-a-uuid", "x" * 300, "%00", "1%27%20OR%201%3D1"])
def test_malformed_ids_are_404(user_client: APIClient, object_id: str) -> None:
    for method in ("get", "patch", "delete"):
        response = getattr(user_client, method)(f"{OBJECTS_URL}/{object_id}", {"name": "n"})
        assert response.status_code == 404, method


def test_list_shows_only_readable_objects_in_one_query(
    client_for: Client, user: User, other_user: User
) -> None:
    mine = [make_object(user, name=f"mine{i}") for i in range(3)]
    theirs = make_object(other_user, name="theirs")
    shared = make_object(other_user, name="shared")
    grant(shared, user, read=True)
    client = client_for(user)
    client.get(OBJECTS_URL)  # warm the signing-key ring
    with grants_queries() as queries:
        response = client.get(OBJECTS_URL)
    assert response.status_code == 200
    ids = {row["id"] for row in response.json()["results"]}
    assert ids == {obj.pk for obj in [*mine, shared]}
    assert theirs.pk not in ids
    assert len(queries.captured_queries) == 1
    assert "EXISTS" in queries.captured_queries[0]["sql"].upper()


def test_list_paginates_with_a_cursor_and_caps_page_size(
    user: User, user_client: APIClient
) -> None:
    created = {make_object(user, name=f"o{i}").pk for i in range(5)}
    first = user_client.get(OBJECTS_URL, {"page_size": 2}).json()
    assert len(first["results"]) == 2
    seen = {row["id"] for row in first["results"]}
    url = first["next"]
    while url:
        page = user_client.get(url).json()
        seen |= {row["id"] for row in page["results"]}
        url = page["next"]
    assert seen == created
    capped = user_client.get(OBJECTS_URL, {"page_size": 1000000})
    assert capped.status_code == 200
    assert user_client.get(OBJECTS_URL, {"cursor": "forged"}).status_code == 404


def test_session_patch_needs_csrf(session_client: Callable[[User], APIClient], user: User) -> None:
    obj = make_object(user)
    response = session_client(user).patch(object_url(obj), {"name": "csrf"}, format="json")
    assert response.status_code == 403
    obj.refresh_from_db()
    assert obj.name == "doc"


def test_admin_only_grant_without_read_cannot_delete(
    client_for: Client, user: User, other_user: User
) -> None:
    obj = make_object(user)
    grant(obj, other_user, admin=True)
    assert client_for(other_user).delete(object_url(obj)).status_code == 404
    assert Object.objects.filter(pk=obj.pk).exists()


@pytest.mark.parametrize("position", ["\u0000", "x' OR '1'='1", "2024-01-01T00:00:00Z"])
def test_forged_cursor_positions_are_404(user_client: APIClient, position: str) -> None:
    import base64
    from urllib.parse import urlencode

    cursor = base64.b64encode(urlencode({"p": position}).encode()).decode()
    assert user_client.get(OBJECTS_URL, {"cursor": cursor}).status_code == 404


def test_list_with_groups_still_takes_one_query(
    client_for: Client, user: User, other_user: User
) -> None:
    from tests.factories import GroupFactory, MembershipFactory

    group = GroupFactory.create()
    MembershipFactory.create(group=group, user=user)
    via_group = make_object(other_user, name="via group")
    grant(via_group, group.pk, subject_type="group", read=True)
    mine = make_object(user)
    client = client_for(user)
    client.get(OBJECTS_URL)
    with grants_queries() as queries:
        ids = [row["id"] for row in client.get(OBJECTS_URL).json()["results"]]
    assert ids == sorted([via_group.pk, mine.pk])
    assert len(queries.captured_queries) == 1


def test_patch_checks_and_updates_in_one_statement(user: User, user_client: APIClient) -> None:
    obj = make_object(user)
    user_client.get(object_url(obj))  # warm the signing-key ring
    with grants_queries() as queries:
        assert user_client.patch(object_url(obj), {"name": "v2", "version": 1}).status_code == 200
    statements = [query["sql"].upper() for query in queries.captured_queries]
    writes = [sql for sql in statements if sql.startswith("UPDATE")]
    assert len(writes) == 1
    assert writes[0].count("EXISTS") == 2  # read and write grants, in the UPDATE itself
    assert '"VERSION" = 1' in writes[0].split("WHERE", 1)[1]  # the version check too
    before = statements[: statements.index(writes[0])]
    assert not [sql for sql in before if "PERMISSIONS_GRANT" in sql and "EXISTS" not in sql]
