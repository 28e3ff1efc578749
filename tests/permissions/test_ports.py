"""Permissions learns a user's groups only through the resolver MICRO_GROUP_RESOLVER names."""

from __future__ import annotations

import uuid

import pytest
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User
from permissions import ports
from tests.conftest import token_for
from tests.permissions.helpers import grant, make_object

pytestmark = pytest.mark.django_db(databases="__all__")

# The group a stand-in resolver reports for every user (no such group exists in accounts).
ELSEWHERE = uuid.UUID("00000000-0000-4000-8000-00000000abcd")


def groups_kept_elsewhere(*, user_id: uuid.UUID) -> tuple[uuid.UUID, ...]:
    return (ELSEWHERE,)


def check(admin_user: User, subject: User, object_id: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}")
    body = {
        "subject_id": str(subject.pk),
        "object_type": "object",
        "object_id": object_id,
        "permission": "read",
    }
    response = client.post("/api/v1/access/check", body, format="json")
    assert response.status_code == 200, response.content
    return bool(response.json()["allowed"])


def test_the_project_resolves_groups_through_accounts(user: User) -> None:
    assert ports.group_ids_of_user(user_id=user.pk) == ()


def test_an_access_check_for_another_user_asks_the_configured_resolver(
    admin_user: User, user: User, other_user: User
) -> None:
    obj = make_object(user)
    grant(obj, ELSEWHERE, subject_type="group", read=True)

    assert not check(admin_user, other_user, str(obj.pk))
    resolver = f"{__name__}.groups_kept_elsewhere"
    with override_settings(MICRO_GROUP_RESOLVER=resolver):
        assert ports.group_ids_of_user(user_id=other_user.pk) == (ELSEWHERE,)
        assert check(admin_user, other_user, str(obj.pk))
