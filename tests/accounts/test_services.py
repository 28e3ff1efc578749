"""Rules enforced in the services themselves, so every caller (REST, RPC, dashboard) gets them."""

import uuid

import pytest
from django.core.exceptions import PermissionDenied

from accounts import services
from accounts.models import Membership
from accounts.principals import principal_for_user
from audit.models import AuditEvent
from micro_platform.identity import Principal
from micro_platform.sign_in import SignInRequired
from tests.factories import AdminFactory, GroupFactory, MembershipFactory, UserFactory


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


# --- Changing a group's members needs a person's own sign-in, whoever calls the service ------


def key_principal(user) -> Principal:
    """An API key of `user` holding everything they hold: a credential, not the person."""
    return principal_for_user(user, method="api_key", amr=("api_key",))


def test_a_key_cannot_add_a_member_through_the_service(db):
    admin = AdminFactory.create()
    group, newcomer = GroupFactory.create(scopes=["users:write"]), UserFactory.create()

    with pytest.raises(SignInRequired):
        services.group_member_add(
            actor=key_principal(admin), group=group, user=newcomer, role="member"
        )

    assert not Membership.objects.filter(group=group).exists()
    assert not AuditEvent.objects.filter(type__startswith="group.member").exists()


def test_a_key_cannot_remove_a_member_through_the_service(db):
    admin = AdminFactory.create()
    membership = MembershipFactory.create()

    with pytest.raises(SignInRequired):
        services.group_member_remove(
            actor=key_principal(admin), group=membership.group, user_id=membership.user_id
        )

    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_sign_in_or_the_operator_changes_members_through_the_service(db):
    admin = AdminFactory.create()
    group, newcomer = GroupFactory.create(), UserFactory.create()
    signed_in = principal_for_user(admin, method="jwt", amr=("pwd",))

    services.group_member_add(actor=signed_in, group=group, user=newcomer, role="member")
    assert services.group_member_remove(actor=None, group=group, user_id=newcomer.pk)
    services.group_member_add(actor=None, group=group, user=newcomer, role="admin")

    assert Membership.objects.get(group=group, user=newcomer).role == "admin"
