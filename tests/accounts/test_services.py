"""Rules enforced in the services themselves, so every caller (REST, RPC, dashboard) gets them."""

import uuid

import pytest
from django.core.exceptions import PermissionDenied

from accounts import services
from authn.principal import Principal
from tests.factories import AdminFactory, UserFactory


def operator() -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="operator",
        kind="service",
        group_ids=(),
        scopes=frozenset({"users:read", "users:write"}),
        method="jwt",
    )


def test_deactivating_an_admin_needs_api_admin_in_the_service(db):
    admin = AdminFactory.create()

    with pytest.raises(PermissionDenied):
        services.user_deactivate(actor=operator(), user=admin)

    admin.refresh_from_db()
    assert admin.is_active


def test_updating_an_admin_needs_api_admin_in_the_service(db):
    admin = AdminFactory.create()

    with pytest.raises(PermissionDenied):
        services.user_update(actor=operator(), user=admin, changes={"email": "x@example.com"})

    admin.refresh_from_db()
    assert admin.email != "x@example.com"


def test_update_with_deactivation_applies_other_fields_then_deactivates(db):
    user = UserFactory.create()

    services.user_update(
        actor=operator(), user=user, changes={"display_name": "Gone", "is_active": False}
    )

    user.refresh_from_db()
    assert user.display_name == "Gone" and not user.is_active


def test_rpc_delete_of_an_admin_by_users_write_is_403(client_for):
    import json

    from tests.factories import ServiceAccountFactory

    admin = AdminFactory.create()
    client = client_for(ServiceAccountFactory.create(scopes=["users:write", "users:read"]))

    response = client.generic(
        "POST", "/user/delete", json.dumps({"id": str(admin.pk)}), content_type="application/json"
    )

    assert response.status_code == 403
    assert "api_admin" in response.json()["detail"]
