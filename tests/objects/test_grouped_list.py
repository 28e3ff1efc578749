"""The object list of a principal with groups is read from their grants, with the same pages."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from accounts.models import Group, User
from objects.models import Object, new_object_id
from objects.selectors import objects_readable_by
from tests.factories import GroupFactory, MembershipFactory
from tests.permissions.helpers import OBJECTS_URL, grant, grants_queries, make_object, principal

pytestmark = pytest.mark.django_db(databases="__all__")
Client = Callable[..., APIClient]


def group_grant(
    obj: Object | str, group: Group | uuid.UUID, *, read: bool = False, write: bool = False
) -> None:
    group_id = group.pk if isinstance(group, Group) else group
    grant(obj, group_id, subject_type="group", read=read, write=write)


@pytest.fixture
def member(user: User, other_user: User) -> User:
    """`user` in two groups, reading objects directly, through either group or several ways,
    beside objects it must not see: another group's, crossed subject types, write without
    read, and grants naming objects that do not exist."""
    first, second, outside = GroupFactory.create(), GroupFactory.create(), GroupFactory.create()
    MembershipFactory.create(group=first, user=user)
    MembershipFactory.create(group=second, user=user)
    for n in range(4):
        make_object(user, name=f"own {n}")
    for n in range(5):
        group_grant(make_object(other_user, name=f"first {n}"), first, read=True)
    for n in range(3):
        group_grant(make_object(other_user, name=f"second {n}"), second, read=True)
    both = make_object(other_user, name="through both groups and directly")
    group_grant(both, first, read=True)
    group_grant(both, second, read=True, write=True)
    grant(both, user, read=True)
    group_grant(make_object(other_user, name="outside"), outside, read=True)
    group_grant(make_object(other_user, name="crossed"), user.pk, read=True)
    grant(make_object(other_user, name="crossed user"), first.pk, read=True)
    group_grant(make_object(other_user, name="write only"), first, write=True)
    for _ in range(3):  # grants on ids no object has, ahead of every page
        group_grant(new_object_id(), first, read=True)
    grant(new_object_id(), user, read=True)
    make_object(other_user, name="not shared")
    return user


def expected_ids(user: User) -> list[str]:
    """The readable ids by the EXISTS filter alone, in page order."""
    readable = objects_readable_by(principal=principal(user))
    return list(readable.order_by("pk").values_list("pk", flat=True))


def cursor(**fields: str) -> str:
    return base64.b64encode(urlencode(fields).encode()).decode()


def page_ids(client: APIClient, **params: str | int) -> tuple[list[str], str | None]:
    response = client.get(OBJECTS_URL, params)
    assert response.status_code == 200, response.content
    body = response.json()
    return [row["id"] for row in body["results"]], body["next"]


@pytest.mark.parametrize("page_size", [1, 2, 3, 50])
def test_grouped_pages_are_the_readable_objects_in_id_order(
    client_for: Client, member: User, page_size: int
) -> None:
    expected = expected_ids(member)
    assert len(expected) == 13
    client = client_for(member)
    ids, url = page_ids(client, page_size=page_size)
    pages = [ids]
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append([row["id"] for row in response.json()["results"]])
        url = response.json()["next"]
    assert [obj_id for page in pages for obj_id in page] == expected
    assert all(len(page) == page_size for page in pages[:-1])


def test_grouped_page_after_any_position_matches_the_exists_filter(
    client_for: Client, member: User
) -> None:
    expected = expected_ids(member)
    client = client_for(member)
    for index, position in enumerate(expected):
        ids, _ = page_ids(client, page_size=4, cursor=cursor(p=position))
        assert ids == expected[index + 1 : index + 5]


def test_grouped_reverse_and_offset_cursors_give_the_same_pages(
    client_for: Client, member: User
) -> None:
    """Cursors this API never writes (a reversed one, an offset) still read the same rows."""
    expected = expected_ids(member)
    client = client_for(member)
    position = expected[9]
    ids, _ = page_ids(client, page_size=3, cursor=cursor(r="1", p=position))
    assert ids == expected[6:9]
    ids, _ = page_ids(client, page_size=3, cursor=cursor(r="1"))
    assert ids == expected[-3:]
    ids, _ = page_ids(client, page_size=3, cursor=cursor(o="4", p=expected[1]))
    assert ids == expected[6:9]
    ids, _ = page_ids(client, page_size=3, cursor=cursor(o="2", r="1", p=position))
    assert ids == expected[4:7]


def test_grouped_page_reads_each_subjects_grants_up_to_the_page_in_one_query(
    client_for: Client, member: User
) -> None:
    """The page is driven from the grants: one range per subject (the user and each group),
    each bounded by the page, ahead of the objects; still one query."""
    first = expected_ids(member)[0]
    client = client_for(member)
    page_ids(client, page_size=3)  # warm the signing-key ring
    with grants_queries() as queries:
        ids, _ = page_ids(client, page_size=3, cursor=cursor(p=first))
    assert len(ids) == 3
    assert len(queries.captured_queries) == 1
    sql = queries.captured_queries[0]["sql"].upper()
    assert sql.count("UNION ALL") == 2  # the user and two groups
    assert sql.count("LIMIT 4") == 4  # each range, like the page, stops one row past it


def test_user_without_groups_keeps_the_single_grants_range(client_for: Client, user: User) -> None:
    mine = sorted(make_object(user, name=f"o{n}").pk for n in range(3))
    client = client_for(user)
    page_ids(client)
    with grants_queries() as queries:
        ids, _ = page_ids(client, page_size=2)
    assert ids == mine[:2]
    assert len(queries.captured_queries) == 1
    assert "UNION" not in queries.captured_queries[0]["sql"].upper()
