"""The serializer-free public view of a user (the single read and the batch lookup) gives the
bytes UserPublicOut rendered by DRF's JSONRenderer gives, whatever the user holds."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone
from rest_framework.renderers import JSONRenderer

from accounts import selectors
from accounts.api_rules import public_view
from accounts.models import User
from accounts.serializers import UserPublicOut
from micro_platform.http import json_body
from tests.factories import ServiceAccountFactory, UserFactory

UTC = dt.UTC
# Names and addresses a renderer could get wrong: non-ASCII, astral, escapes, the two line
# separators DRF escapes, quotes and backslashes, and the empty string.
AWKWARD_TEXT = [
    "",
    "Zoë Ångström",
    "李小龙 🐉",
    'quote " and \\ backslash',
    "line\u2028separator\u2029paragraph",
    "tab\tnew\nline\x01control",
    "<script>&amp;</script>",
]
TIMESTAMPS = [
    dt.datetime(2024, 1, 2, 3, 4, 5, 0, tzinfo=UTC),  # no fraction: isoformat drops it
    dt.datetime(2024, 1, 2, 3, 4, 5, 7, tzinfo=UTC),
    dt.datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    dt.datetime(2030, 6, 1, 12, 0, 0, 500000, tzinfo=UTC),
]


def serializer_bytes(users: list[User]) -> list[bytes]:
    return [JSONRenderer().render(UserPublicOut(user).data) for user in users]


@pytest.fixture
def varied_users(db: Any) -> list[User]:
    users = []
    for index, text in enumerate(AWKWARD_TEXT):
        factory = ServiceAccountFactory if index % 2 else UserFactory
        user = factory.create(
            username=f"render{index}",
            display_name=text,
            avatar_url="" if index % 3 else f"https://example.com/{index}/ä.png",
        )
        # auto_now_add ignores a given value: set the timestamp after the insert.
        User.objects.filter(pk=user.pk).update(created_at=TIMESTAMPS[index % len(TIMESTAMPS)])
        users.append(User.objects.get(pk=user.pk))
    assert {user.kind for user in users} == set(User.Kind.values)
    return users


def test_json_body_matches_json_renderer() -> None:
    data = {
        "results": [
            {"a": text, "n": 1, "f": 1.5, "none": None, "t": True} for text in AWKWARD_TEXT
        ],
        "id": str(uuid.uuid4()),
        "empty": [],
    }

    assert json_body(data) == JSONRenderer().render(data)


def test_public_view_of_a_stored_user_matches_the_serializer(varied_users: list[User]) -> None:
    rendered = [json_body(public_view(**vars_of(user))) for user in varied_users]

    assert rendered == serializer_bytes(varied_users)


def test_public_view_of_an_unsaved_user_matches_the_serializer() -> None:
    # A model instance built in memory holds the kind as an enum member and any time zone.
    offset = dt.timezone(dt.timedelta(hours=-3, minutes=-30))
    user = User(
        id=uuid.uuid4(),
        username="fresh",
        display_name="Fresh ✓",
        kind=User.Kind.SERVICE,
        created_at=dt.datetime(2024, 5, 6, 7, 8, 9, 10, tzinfo=offset),
    )

    assert json_body(public_view(**vars_of(user))) == serializer_bytes([user])[0]


def test_single_read_body_is_the_serializers_byte_for_byte(
    client_for: Any, user: User, varied_users: list[User]
) -> None:
    client = client_for(user, frozenset({"users:read"}))
    for _ in range(2):  # the stack's answer, then the fast path's
        bodies = [client.get(f"/api/v1/users/{other.pk}").content for other in varied_users]
        assert bodies == serializer_bytes(varied_users)


def test_batch_lookup_body_is_the_serializers_byte_for_byte(
    user_client: Any, varied_users: list[User]
) -> None:
    ids = ",".join(str(user.pk) for user in varied_users)
    ordered = sorted(varied_users, key=lambda user: (user.created_at, user.pk))

    response = user_client.get("/api/v1/users", {"ids": ids})

    expected = JSONRenderer().render({"results": UserPublicOut(ordered, many=True).data})
    assert response.content == expected


@pytest.mark.parametrize("zone", ["Asia/Kolkata", "America/St_Johns"])
def test_public_views_follow_the_current_time_zone_as_the_serializer_does(
    zone: str, user_client: Any, varied_users: list[User]
) -> None:
    ids = [str(user.pk) for user in varied_users]
    with timezone.override(zone):
        rows = selectors.users_public_by_ids(ids=ids)
        batch = user_client.get("/api/v1/users", {"ids": ",".join(ids)}).json()["results"]
        by_id = {user.pk: user for user in varied_users}
        expected = [UserPublicOut(by_id[row["id"]]).data for row in rows]

        assert [public_view(**row) for row in rows] == expected
        assert batch == expected
        assert not any(row["created_at"].endswith("Z") for row in batch)


def vars_of(user: User) -> dict[str, Any]:
    return {field: getattr(user, field) for field in selectors.PUBLIC_FIELDS}
