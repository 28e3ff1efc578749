"""Reads of the scope registry and roles for the API and the admin console: services with
their scopes, scopes with their service, roles; each list one query (two for services, their
scopes prefetched)."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from micro_platform.ids import parse_uuid
from permissions.models import Role, RoleAssignment, Scope, Service


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


def services_with_scope_counts() -> QuerySet[Service]:
    """Every service by name, with how many scopes it owns (`scope_count`)."""
    return Service.objects.annotate(scope_count=Count("scopes")).order_by("name")


def scopes_of_service(*, service: Service) -> QuerySet[Scope]:
    return Scope.objects.filter(service=service).order_by("name")


def scope_names_of_service(*, service: Service) -> frozenset[str]:
    return frozenset(Scope.objects.filter(service=service).values_list("name", flat=True))


def roles_with_holder_counts() -> QuerySet[Role]:
    """Every role by name, with how many users and groups hold it (`assignment_count`)."""
    return Role.objects.annotate(assignment_count=Count("assignments")).order_by("name")


def role_holder_counts(*, role: Role) -> dict[str, int]:
    """How many users and groups the role is given to: {"user": n, "group": m}."""
    counts = dict.fromkeys(("user", "group"), 0)
    rows = (
        RoleAssignment.objects.filter(role=role).values_list("subject_type").annotate(Count("id"))
    )
    for subject_type, count in rows:
        counts[subject_type] = count
    return counts
