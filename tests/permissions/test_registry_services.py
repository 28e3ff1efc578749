"""The registry's and roles' services: names, conflicts, uses, force, and what users hold."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from accounts.selectors import user_held_scopes
from audit.models import AuditEvent
from permissions import catalogue, registry, roles
from permissions.models import Scope, Service
from tests.factories import GroupFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_registered_scope_is_in_the_registry_at_once():
    billing = registry.service_create(actor=None, name="billing", description="Invoices")
    registry.scope_create(actor=None, service=billing, name="billing:read", description="Read")

    assert "billing:read" in catalogue.all_scopes()
    found = catalogue.current().service_for("billing")
    assert found is not None
    assert found.audience == "billing"
    assert AuditEvent.objects.filter(type="scope.created").count() == 1


@pytest.mark.parametrize("name", ["Billing", "1billing", "billing:read", "", "b" * 64])
def test_a_service_name_off_the_pattern_is_refused(name):
    with pytest.raises(ValidationError, match="matches"):
        registry.service_create(actor=None, name=name)


@pytest.mark.parametrize("name", ["orders:read", "billing", "billing:Read", "billing:"])
def test_a_scope_is_named_after_its_service(name):
    billing = registry.service_create(actor=None, name="billing")

    with pytest.raises(ValidationError):
        registry.scope_create(actor=None, service=billing, name=name)


def test_a_duplicate_service_is_a_conflict():
    registry.service_create(actor=None, name="billing")

    with pytest.raises(registry.Conflict):
        registry.service_create(actor=None, name="billing")
    with pytest.raises(registry.Conflict):
        registry.service_create(actor=None, name="invoices", audience="billing")
    with pytest.raises(registry.Conflict):
        registry.service_create(actor=None, name="other", audience="micro")


def test_a_resource_value_designates_one_service():
    """`resource` gives an audience or a name: neither may be another service's."""
    registry.service_create(actor=None, name="billing", audience="https://billing.example")

    with pytest.raises(registry.Conflict):
        registry.service_create(actor=None, name="orders", audience="billing")
    with pytest.raises(registry.Conflict):
        registry.service_create(actor=None, name="micro-upstream")
    registry.service_create(actor=None, name="orders", audience="https://orders.example")
    with pytest.raises(registry.Conflict):
        registry.service_create(actor=None, name="shop", audience="orders")


def test_the_built_in_service_cannot_change():
    micro = Service.objects.get(name="micro")

    with pytest.raises(registry.Conflict):
        registry.service_delete(actor=None, service=micro)
    with pytest.raises(registry.Conflict):
        registry.scope_create(actor=None, service=micro, name="micro:extra")


def test_a_role_gives_its_scopes_to_a_group_s_members_until_taken_away():
    billing = registry.service_create(actor=None, name="billing")
    registry.scope_create(actor=None, service=billing, name="billing:read")
    clerk = roles.role_create(actor=None, name="billing-clerk", scopes=["billing:read"])
    user = UserFactory.create()
    group = GroupFactory.create()
    MembershipFactory.create(user=user, group=group)

    roles.role_assign(actor=None, role=clerk, subject_type="group", subject_id=group.pk)
    assert "billing:read" in user_held_scopes(user=user)

    roles.role_unassign(actor=None, role=clerk, subject_type="group", subject_id=group.pk)
    assert "billing:read" not in user_held_scopes(user=user)


def test_a_role_with_an_unknown_scope_is_refused():
    with pytest.raises(ValidationError, match="billing:read"):
        roles.role_create(actor=None, name="clerk", scopes=["billing:read"])


def test_a_scope_in_use_is_deleted_only_by_force_which_takes_it_from_its_holders():
    billing = registry.service_create(actor=None, name="billing")
    scope = registry.scope_create(actor=None, service=billing, name="billing:read")
    role = roles.role_create(actor=None, name="clerk", scopes=["billing:read", "profile"])
    group = GroupFactory.create(scopes=["billing:read"])

    with pytest.raises(registry.ScopeInUse) as refused:
        registry.scope_delete(actor=None, scope=scope)
    assert refused.value.uses == {"roles": 1, "groups": 1}
    assert Scope.objects.filter(name="billing:read").exists()

    registry.scope_delete(actor=None, scope=scope, force=True)

    role.refresh_from_db()
    group.refresh_from_db()
    assert role.scopes == ["profile"]
    assert group.scopes == []
    assert "billing:read" not in catalogue.all_scopes()
    event = AuditEvent.objects.get(type="scope.deleted")
    assert event.data["removed_from"] == {"roles": 1, "groups": 1}


def test_a_role_description_with_a_nul_byte_is_refused():
    # The API's fields refuse it first; the manifest and other callers reach the service.
    with pytest.raises(ValidationError, match="description"):
        roles.role_create(actor=None, name="clerk", scopes=[], description="a\x00b")
    role = roles.role_create(actor=None, name="clerk", scopes=[])
    with pytest.raises(ValidationError, match="description"):
        roles.role_update(actor=None, role=role, description="a\x00b")


@pytest.mark.parametrize("name", ["micro", "users", "objects"])
def test_the_built_in_names_are_reserved(name):
    """`users` would own `users:*` scopes that read as the built-in ones."""
    with pytest.raises(registry.Conflict):
        registry.service_create(actor=None, name=name, audience=f"https://{name}.example")


def test_a_duplicate_created_at_the_same_moment_is_a_conflict(monkeypatch):
    """The check before the insert passed (another request's row was not there yet): the
    unique constraint answers, as a conflict, not an error."""
    registry.service_create(actor=None, name="billing")
    monkeypatch.setattr(registry, "RESERVED_SERVICE_NAMES", frozenset())
    real_filter = Service.objects.filter

    def blind(*args, **kwargs):
        return real_filter(pk=None)  # finds nothing, as a racing request's check did

    monkeypatch.setattr(Service.objects, "filter", blind)
    with pytest.raises(registry.Conflict):
        registry.service_create(actor=None, name="billing", audience="https://other.example")


@pytest.mark.parametrize("delete", ["scope", "service"])
def test_a_forced_delete_takes_from_holders_only_with_its_audit_event(monkeypatch, delete):
    """The holders' rows and the event live on the default database: they commit together, so
    an event that cannot be written leaves every holder as it was (also with the registry in a
    database of its own)."""
    billing = registry.service_create(actor=None, name="billing")
    scope = registry.scope_create(actor=None, service=billing, name="billing:read")
    group = GroupFactory.create(scopes=["billing:read"])
    user = UserFactory.create(scopes=["billing:read"])

    def refused(**kwargs):
        raise RuntimeError("the audit trail cannot be written")

    monkeypatch.setattr(registry, "audit_record", refused)
    with pytest.raises(RuntimeError):
        if delete == "scope":
            registry.scope_delete(actor=None, scope=scope, force=True)
        else:
            registry.service_delete(actor=None, service=billing, force=True)

    group.refresh_from_db()
    user.refresh_from_db()
    assert group.scopes == ["billing:read"]
    assert user.scopes == ["billing:read"]
    assert Scope.objects.filter(name="billing:read").exists()
