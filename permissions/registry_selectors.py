"""Reads of the scope registry and roles for the API: services with their scopes, scopes with
their service, roles; each list one query (two for services, their scopes prefetched)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from micro_platform.ids import parse_uuid
from permissions.models import Role, Scope, Service


def services_all() -> QuerySet[Service]:
    return Service.objects.prefetch_related(
        Prefetch("scopes", queryset=Scope.objects.order_by("name"))
    )


def service_detail(*, service_id: object) -> Service | None:
    parsed = parse_uuid(service_id)
    return None if parsed is None else services_all().filter(pk=parsed).first()


def scopes_matching(*, service: str | None = None) -> QuerySet[Scope]:
    """Every scope with its service; only `service`'s when named."""
    scopes = Scope.objects.select_related("service")
    return scopes if service is None else scopes.filter(service__name=service)


def scope_of_service(*, service: Service, name: str) -> Scope | None:
    return Scope.objects.select_related("service").filter(service=service, name=name).first()


def roles_all() -> QuerySet[Role]:
    return Role.objects.all()
