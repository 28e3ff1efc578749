"""Tokens for one service (RFC 8707 resource indicators): the `resource` a token request
names, and the scopes a token for that service may carry."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from micro_platform.errors import Problem, field_problem
from permissions import catalogue as registry
from permissions.catalogue import ServiceEntry


class InvalidTarget(Exception):
    """A `resource` that names no registered service (RFC 8707 `invalid_target`)."""


class ScopeOutsideResource(Exception):
    """A requested scope the service named by `resource` does not own."""


def resource_service(resource: str | None) -> ServiceEntry | None:
    """The registered service a `resource` names (its audience or its name), None for no
    `resource`; InvalidTarget for a value that names none. Reads the cached registry only."""
    if resource is None or resource == "":
        return None
    service = registry.service_for(resource)
    if service is None:
        raise InvalidTarget(f"No registered service has the audience or name {resource!r}.")
    return service


def check_requested(requested: Iterable[str], service: ServiceEntry | None) -> None:
    """Every scope asked for is one a token for `service` may carry (ScopeOutsideResource)."""
    if service is None:
        return
    outside = sorted(frozenset(requested) - registry.current().scopes_of(service))
    if outside:
        raise ScopeOutsideResource(
            f"scope(s) not owned by the service {service.name}: {' '.join(outside)}"
        )


def narrowed(scopes: frozenset[str], service: ServiceEntry | None) -> frozenset[str]:
    """The scopes a token for `service` carries: those it owns, and `profile`."""
    if service is None:
        return scopes
    return scopes & registry.current().scopes_of(service)


def audience_of(service: ServiceEntry | None) -> str | None:
    """The token's `aud`; None is this service's own audience."""
    return None if service is None else service.audience


def issued_audiences() -> tuple[str, ...]:
    """Every `aud` this service signs access tokens for: its own and each registered
    service's. Only for reading a token to end it: a credential is accepted for its own
    audience alone."""
    return tuple(sorted({settings.MICRO_TOKEN_AUDIENCE, *registry.current().by_audience}))


def audit_detail(service: ServiceEntry | None) -> dict[str, str]:
    """The audit detail naming the service a token was issued for (nothing without one)."""
    return {} if service is None else {"resource": service.name}


def invalid_target_problem(exc: InvalidTarget) -> Problem:
    """A 403: no credential may have a token for a service that is not registered (which
    services are registered is the registry's state, not something a request's shape says)."""
    return Problem(status_code=403, code="invalid_target", detail=str(exc))


def invalid_scope_problem(detail: str, field: str = "scope") -> Problem:
    """A 403: a scope that is unknown, or that the credential does not hold, is never granted
    (which names exist and who holds them is the registry's state, not the request's shape)."""
    return field_problem(status_code=403, code="invalid_scope", errors={field: [detail]})
