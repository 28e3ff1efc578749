"""Gateway verify for the service behind a route: `?resource=` (docs/gateway.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from audit.models import AuditEvent
from authn.api_keys.services import api_key_create
from authn.gateway.apis import user_tokens
from authn.tokens.authentication import verified_tokens
from permissions import catalogue
from tests.authn.helpers import ME_URL, REVOKE_URL, me_status, password_login
from tests.authn.resource_helpers import (
    BILLING_AUDIENCE,
    BILLING_READ,
    billing,  # noqa: F401 - a fixture
    give_billing_role,
)
from tests.conftest import queries_everywhere

pytestmark = pytest.mark.usefixtures("billing")
VERIFY = "/api/v1/auth/verify"


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    user_tokens.clear()
    verified_tokens.clear()
    yield
    user_tokens.clear()


def verify(credential: str, query: str = "") -> Any:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {credential}")
    return client.get(f"{VERIFY}{query}")


def billing_token(user: User, password: str) -> str:
    give_billing_role(user)
    return str(password_login(user, password, resource="billing")["access_token"])


def bound(user: User, resource: str = "billing") -> str:
    give_billing_role(user)
    return api_key_create(
        owner=user, name="b", scopes=[BILLING_READ], expires_in_days=5, actor=None,
        resource=resource,
    ).key  # fmt: skip


def test_a_token_for_the_resource_is_accepted_with_its_scope(user: User, password: str) -> None:
    token = billing_token(user, password)
    response = verify(token, f"?resource=billing&scope={BILLING_READ}")
    assert response.status_code == 200
    assert response["X-User-Scopes"] == f"{BILLING_READ} profile"
    assert verify(token, f"?resource={BILLING_AUDIENCE}").status_code == 200


def test_a_default_token_is_accepted_for_a_resource(user: User, password: str) -> None:
    give_billing_role(user)
    token = password_login(user, password)["access_token"]
    assert verify(token, f"?resource=billing&scope={BILLING_READ}").status_code == 200


def test_a_token_for_a_resource_is_refused_without_resource_or_for_another(
    user: User, password: str
) -> None:
    token = billing_token(user, password)
    assert verify(token).status_code == 401
    assert verify(token, "?resource=micro").status_code == 401


def test_a_token_accepted_for_its_resource_stays_refused_by_the_api(
    user: User, password: str
) -> None:
    token = billing_token(user, password)
    assert verify(token, "?resource=billing").status_code == 200  # now in the memo
    assert me_status(token) == 401
    assert verify(token).status_code == 401


def test_a_token_for_a_resource_revoked_by_its_value_is_refused_for_that_resource(
    user: User, password: str
) -> None:
    token = billing_token(user, password)
    assert verify(token, "?resource=billing").status_code == 200
    revoked = APIClient().post(REVOKE_URL, {"token": token}, format="json")
    assert revoked.status_code == 200
    assert verify(token, "?resource=billing").status_code == 401
    assert AuditEvent.objects.filter(type="token.revoked", subject_type="access_token").exists()


def test_an_unknown_resource_is_invalid_target_with_or_without_a_credential(
    user: User, password: str
) -> None:
    token = password_login(user, password)["access_token"]
    response = verify(token, "?resource=nowhere")
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_target"
    assert APIClient().get(f"{VERIFY}?resource=nowhere").status_code == 403


def test_a_bound_key_is_accepted_only_for_its_resource(user: User) -> None:
    key = bound(user)
    assert verify(key, f"?resource=billing&scope={BILLING_READ}").status_code == 200
    refused = verify(key)
    assert refused.status_code == 401
    assert refused.json()["code"] == "api_key_bound_elsewhere"
    assert verify(key, "?resource=micro").status_code == 401
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=key)
    assert client.get(ME_URL).status_code == 401


def test_an_unbound_key_is_accepted_for_a_resource(user: User) -> None:
    give_billing_role(user)
    key = api_key_create(
        owner=user, name="k", scopes=[BILLING_READ], expires_in_days=5, actor=None
    ).key
    assert verify(key, f"?resource=billing&scope={BILLING_READ}").status_code == 200


def test_a_missing_scope_for_a_resource_is_still_403(user: User, password: str) -> None:
    token = billing_token(user, password)
    assert verify(token, "?resource=billing&scope=billing:invoices.write").status_code == 403


def quiet(settings: Any) -> None:
    """Nothing periodic lands in the measured request: key ring, liveness, registry."""
    settings.MICRO_SIGNING_KEY_REFRESH_SECONDS = 3600
    settings.MICRO_DATABASE_CHECK_SECONDS = 3600
    settings.MICRO_REGISTRY_REFRESH_SECONDS = 3600


def test_verify_for_a_resource_runs_no_query_for_a_token(
    user: User, password: str, settings: Any
) -> None:
    quiet(settings)
    token = billing_token(user, password)
    catalogue.current()
    verify(token, "?resource=billing")  # warms the key ring and the revocation sentinel
    with queries_everywhere() as queries:
        response = verify(token, f"?resource=billing&scope={BILLING_READ}")
    assert response.status_code == 200
    assert queries == []


def test_verify_for_a_resource_runs_no_query_for_a_cached_key(user: User, settings: Any) -> None:
    quiet(settings)
    key = bound(user)
    catalogue.current()
    verify(key, "?resource=billing")  # caches the key
    with queries_everywhere() as queries:
        response = verify(key, f"?resource=billing&scope={BILLING_READ}")
    assert response.status_code == 200
    assert queries == []
