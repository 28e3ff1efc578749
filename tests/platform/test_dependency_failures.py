"""A lost cache or database answers 503 problem details (fail closed), never a traceback."""

from collections.abc import Callable

import pytest
from django.db.utils import OperationalError
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import User
from tests.platform.helpers import DEAD_REDIS


def test_unreachable_cache_denies_token_with_503(
    client_for: Callable[..., APIClient], user: User
) -> None:
    client = client_for(user)
    with override_settings(CACHES=DEAD_REDIS):
        response = client.get("/api/v1/me")
    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "dependency_unavailable"


def test_unreachable_cache_makes_readyz_503(db: object) -> None:
    with override_settings(CACHES=DEAD_REDIS):
        response = APIClient().get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["cache"] == "unavailable"


def test_database_error_in_a_view_answers_503(
    user_client: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: object) -> None:
        raise OperationalError("connection refused")

    monkeypatch.setattr("accounts.apis.selectors.user_get", broken)
    response = user_client.get("/api/v1/users/00000000-0000-0000-0000-000000000000")
    assert response.status_code == 503
    assert response.json()["status"] == 503
