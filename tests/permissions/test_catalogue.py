"""The registry snapshot each process keeps: read without a query, reloaded after another
process's change, and never refusing a name for being a moment old."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from micro_platform.scopes import UnknownScope
from permissions import catalogue
from permissions.models import Scope, Service
from tests.conftest import queries_everywhere

pytestmark = pytest.mark.django_db


def another_process_registers(name: str) -> None:
    """Rows written and the shared version bumped, as another process's change leaves them,
    while this process keeps the snapshot it read before (checked a moment ago)."""
    before = catalogue.current()
    version = catalogue._snapshot.version
    service = Service.objects.create(name="billing", audience="https://billing.example")
    Scope.objects.create(service=service, name=name)
    catalogue._bump()
    with catalogue._snapshot.lock:
        catalogue._snapshot.catalogue = before
        catalogue._snapshot.version = version


def test_a_read_of_a_fresh_snapshot_costs_no_query():
    catalogue.current()

    with queries_everywhere() as queries:
        assert "profile" in catalogue.all_scopes()
        assert catalogue.validate_scopes(["users:read"]) == {"users:read"}
    assert queries == []


def test_a_scope_another_process_just_registered_is_not_refused():
    another_process_registers("billing:read")
    assert "billing:read" not in catalogue.current().all_scopes  # the old snapshot, still fresh

    assert catalogue.validate_scopes(["billing:read"]) == {"billing:read"}
    assert catalogue.expand({"billing:read", "profile"}) == {"billing:read", "profile"}
    found = catalogue.service_for("https://billing.example")
    assert found is not None and found.name == "billing"


def test_an_unknown_name_is_still_refused_after_the_recheck():
    catalogue.current()

    with pytest.raises(UnknownScope, match="billing:read"):
        catalogue.validate_scopes(["billing:read"])
    assert catalogue.service_for("billing") is None


def test_a_stale_snapshot_is_reloaded_once_the_refresh_interval_passed(settings):
    another_process_registers("billing:read")
    settings.MICRO_REGISTRY_REFRESH_SECONDS = 0

    assert "billing:read" in catalogue.current().all_scopes


def test_a_change_here_is_seen_here_at_once_and_bumps_the_shared_version(
    commits_everywhere,
):
    catalogue.current()
    version = cache.get(catalogue.VERSION_KEY)

    with commits_everywhere():
        service = Service.objects.create(name="billing")
        Scope.objects.create(service=service, name="billing:read")

    assert "billing:read" in catalogue.current().all_scopes
    assert cache.get(catalogue.VERSION_KEY) != version


def test_an_unreachable_cache_keeps_the_snapshot(monkeypatch):
    catalogue.current()

    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "get", down)
    assert "profile" in catalogue.current(recheck=True).all_scopes


def test_a_committed_change_is_not_answered_with_an_error_when_the_cache_is_down(
    monkeypatch, commits_everywhere
):
    def down(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "incr", down)
    monkeypatch.setattr(cache, "set", down)
    with commits_everywhere():
        Service.objects.create(name="billing")

    assert "billing" in catalogue.current().services
