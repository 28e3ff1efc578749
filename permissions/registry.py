"""Writes of the scope registry: services and their scopes, checked, audited, and seen by every
process (permissions.catalogue).

A scope's name is `<service>:<action>` (SCOPE_NAME_PATTERN), the service being its owner; names
never change once created, and the built-in service `micro` is the code's. Deleting a scope
that a role, group, user, API key or OAuth client still uses is refused (ScopeInUse) unless
`force`, which takes it from each of them first. Roles are this app's; the others live in apps
above this one, which answer through the MICRO_SCOPE_HOLDERS port (permissions.ports).

The registry may live in the grants database: its audit events commit first, as for grants
(permissions.services).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction
from django.db.models import Q

from audit.services import audit_record
from micro_platform import scopes as sc
from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from permissions import catalogue
from permissions.models import Role, Scope, Service
from permissions.ports import scope_holders

DESCRIPTION_MAX_LENGTH = 500
AUDIENCE_MAX_LENGTH = 255


class Conflict(Exception):
    """The change would break a rule of the registry as it stands (409): a duplicate name or
    audience, a built-in row, a scope still in use."""

    def __init__(self, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class ScopeInUse(Conflict):
    """A scope to delete is still used; `uses` counts its holders by kind."""

    def __init__(self, message: str, uses: Mapping[str, int]) -> None:
        super().__init__("scope_in_use", message)
        self.uses = dict(uses)


@dataclass(frozen=True, slots=True)
class Uses:
    """Who holds some scope names: counts by kind (`roles`, `groups`, `users`, `api_keys`,
    `oauth_clients`), zero kinds left out."""

    counts: Mapping[str, int]

    def __bool__(self) -> bool:
        return any(self.counts.values())

    def describe(self) -> str:
        return ", ".join(f"{count} {kind.replace('_', ' ')}" for kind, count in self.counts.items())


def _audit(
    *,
    type: str,
    actor: Principal | None,
    subject_type: str,
    subject_id: uuid.UUID,
    data: dict[str, object],
) -> None:
    # Nested in the registry's transaction: a savepoint when both are one database, otherwise a
    # transaction on `default` that commits first (permissions.services explains the order).
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        audit_record(
            type=type, actor=actor, subject_type=subject_type, subject_id=subject_id, data=data
        )


# --- Checks ----------------------------------------------------------------------------------


def _check_description(description: object, errors: dict[str, str]) -> str:
    if (
        not isinstance(description, str)
        or len(description) > DESCRIPTION_MAX_LENGTH
        or ("\x00" in description)
    ):
        errors["description"] = (
            f"Give a description of at most {DESCRIPTION_MAX_LENGTH} characters."
        )
        return ""
    return description.strip()


def _check_audience(audience: object, errors: dict[str, str]) -> str:
    if (
        not isinstance(audience, str)
        or not 0 < len(audience.strip()) <= AUDIENCE_MAX_LENGTH
        or any(ch.isspace() or ord(ch) < 32 for ch in audience.strip())
    ):
        errors["audience"] = (
            f"Give an audience of 1-{AUDIENCE_MAX_LENGTH} characters without spaces (the"
            " service's name or its URL)."
        )
        return ""
    return audience.strip()


def check_audience_free(audience: str, *, name: str, service: Service | None) -> None:
    """An audience names one service, and never this service's own token audiences. A
    `resource` may give a service's audience or its name, so neither may be another service's
    audience or name: every `resource` value designates one service."""
    reserved = {settings.MICRO_TOKEN_AUDIENCE, settings.MICRO_UPSTREAM_TOKEN_AUDIENCE}
    others = Service.objects.exclude(pk=service.pk) if service is not None else Service.objects
    if audience in reserved or others.filter(Q(audience=audience) | Q(name=audience)).exists():
        raise Conflict("audience_taken", "Another service has this audience.", field="audience")
    if name in reserved or others.filter(audience=name).exists():
        raise Conflict("name_taken", "Another service has this name as its audience.", field="name")


def check_service_name(name: object) -> str:
    """The name if it is a valid service name; a ValidationError naming the pattern otherwise."""
    if not isinstance(name, str) or not sc.SERVICE_NAME.match(name):
        raise ValidationError(
            {"name": [f"A service name matches {sc.SERVICE_NAME_PATTERN}."]}, code="invalid_name"
        )
    return name


def check_scope_name(name: object, *, service: str) -> str:
    """The name if it is `<service>:<action>` for `service`; a ValidationError otherwise."""
    if not isinstance(name, str) or not sc.SCOPE_NAME.match(name):
        raise ValidationError(
            {"name": [f"A scope name matches {sc.SCOPE_NAME_PATTERN}."]}, code="invalid_name"
        )
    if name.partition(":")[0] != service:
        raise ValidationError(
            {"name": [f"A scope of {service} is named {service}:<action>."]}, code="invalid_name"
        )
    return name


# The built-in service's name, and the prefixes of its scopes (`users:read`...): a service of
# that name would own scopes that read as the built-in ones.
RESERVED_SERVICE_NAMES = frozenset(
    {sc.BUILT_IN_SERVICE, *(name.partition(":")[0] for name in sc.BUILT_IN_SCOPES if ":" in name)}
)


def _not_built_in(service: Service) -> None:
    if service.built_in or service.name == sc.BUILT_IN_SERVICE:
        raise Conflict("built_in", "The built-in service and its scopes are the code's.")


# --- Services ---------------------------------------------------------------------------------


def service_create(
    *, actor: Principal | None, name: str, audience: str | None = None, description: str = ""
) -> Service:
    """Registers a service; its audience defaults to its name."""
    check_service_name(name)
    errors: dict[str, str] = {}
    cleaned = _check_description(description, errors)
    wanted = _check_audience(name if audience is None else audience, errors)
    if errors:
        raise ValidationError({field: [message] for field, message in errors.items()})
    if Service.objects.filter(name=name).exists() or name in RESERVED_SERVICE_NAMES:
        raise Conflict("duplicate", "A service with this name exists.", field="name")
    check_audience_free(wanted, name=name, service=None)
    try:
        with catalogue.changing():
            service = Service.objects.create(name=name, audience=wanted, description=cleaned)
            _audit(
                type="service.created",
                actor=actor,
                subject_type="service",
                subject_id=service.pk,
                data={"name": name, "audience": wanted},
            )
    except IntegrityError as exc:  # the same name or audience registered at the same moment
        raise Conflict("duplicate", "A service with this name or audience exists.") from exc
    return service


def service_update(
    *,
    actor: Principal | None,
    service: Service,
    audience: str | None = None,
    description: str | None = None,
) -> Service:
    """Changes a service's audience or description (never its name); no change, no event."""
    _not_built_in(service)
    errors: dict[str, str] = {}
    changes: dict[str, str] = {}
    if audience is not None:
        wanted = _check_audience(audience, errors)
        if wanted and wanted != service.audience:
            changes["audience"] = wanted
    if description is not None:
        cleaned = _check_description(description, errors)
        if cleaned != service.description and "description" not in errors:
            changes["description"] = cleaned
    if errors:
        raise ValidationError({field: [message] for field, message in errors.items()})
    if not changes:
        return service
    if "audience" in changes:
        check_audience_free(changes["audience"], name=service.name, service=service)
    with catalogue.changing():
        for field, value in changes.items():
            setattr(service, field, value)
        service.save(update_fields=[*changes, "updated_at"])
        _audit(
            type="service.updated",
            actor=actor,
            subject_type="service",
            subject_id=service.pk,
            data={"name": service.name, "fields": sorted(changes)},
        )
    return service


def service_delete(*, actor: Principal | None, service: Service, force: bool = False) -> None:
    """Deletes a service and its scopes; refused while they are used, unless `force`."""
    _not_built_in(service)
    names = frozenset(service.scopes.values_list("name", flat=True))
    with catalogue.changing(), transaction.atomic(using=DEFAULT_DB_ALIAS):
        removed = _take_from_holders(names, actor=actor, force=force)
        _audit(
            type="service.deleted",
            actor=actor,
            subject_type="service",
            subject_id=service.pk,
            data={"name": service.name, "forced": force, "removed_from": dict(removed.counts)},
        )
        service.delete()


# --- Scopes -----------------------------------------------------------------------------------


def scope_create(
    *, actor: Principal | None, service: Service, name: str, description: str = ""
) -> Scope:
    _not_built_in(service)
    check_scope_name(name, service=service.name)
    errors: dict[str, str] = {}
    cleaned = _check_description(description, errors)
    if errors:
        raise ValidationError({field: [message] for field, message in errors.items()})
    if Scope.objects.filter(name=name).exists() or name in sc.BUILT_IN_SCOPES:
        raise Conflict("duplicate", "A scope with this name exists.", field="name")
    try:
        with catalogue.changing():
            scope = Scope.objects.create(service=service, name=name, description=cleaned)
            _audit(
                type="scope.created",
                actor=actor,
                subject_type="scope",
                subject_id=scope.pk,
                data={"name": name, "service": service.name},
            )
    except IntegrityError as exc:  # the same scope registered at the same moment
        raise Conflict("duplicate", "A scope with this name exists.", field="name") from exc
    return scope


def scope_update(*, actor: Principal | None, scope: Scope, description: str) -> Scope:
    """Changes a scope's description (never its name); no change, no event."""
    _not_built_in(scope.service)
    errors: dict[str, str] = {}
    cleaned = _check_description(description, errors)
    if errors:
        raise ValidationError({field: [message] for field, message in errors.items()})
    if cleaned == scope.description:
        return scope
    with catalogue.changing():
        scope.description = cleaned
        scope.save(update_fields=["description"])
        _audit(
            type="scope.updated",
            actor=actor,
            subject_type="scope",
            subject_id=scope.pk,
            data={"name": scope.name, "fields": ["description"]},
        )
    return scope


def scope_delete(*, actor: Principal | None, scope: Scope, force: bool = False) -> None:
    """Deletes a scope; refused while it is used, unless `force`, which takes it from its
    holders first (the event counts them)."""
    _not_built_in(scope.service)
    with catalogue.changing(), transaction.atomic(using=DEFAULT_DB_ALIAS):
        removed = _take_from_holders(frozenset({scope.name}), actor=actor, force=force)
        _audit(
            type="scope.deleted",
            actor=actor,
            subject_type="scope",
            subject_id=scope.pk,
            data={
                "name": scope.name,
                "service": scope.service.name,
                "forced": force,
                "removed_from": dict(removed.counts),
            },
        )
        scope.delete()


# --- Who uses a scope ---------------------------------------------------------------------------


def _roles_using(names: frozenset[str]) -> list[Role]:
    # Scope lists are JSON: filtered here rather than in SQL, which SQLite cannot do. Roles
    # are few (an organisation's job titles), so reading them all is cheap.
    return [role for role in Role.objects.all() if names & set(role.scopes or ())]


def scope_uses(names: frozenset[str]) -> Uses:
    """Who holds any of `names`: roles here, the rest through the holders port."""
    counts: dict[str, int] = {"roles": len(_roles_using(names))}
    for holder in scope_holders():
        counts.update(holder.scope_uses(names))
    return Uses({kind: count for kind, count in counts.items() if count})


def _take_from_holders(names: frozenset[str], *, actor: Principal | None, force: bool) -> Uses:
    """Takes `names` from every holder when `force`; the caller holds a transaction on the
    registry's database and, inside it, one on the default database for the holders' rows
    and the event, which commit together and before the registry's, as the audit events do."""
    uses = scope_uses(names) if names else Uses({})
    if uses and not force:
        raise ScopeInUse(
            f"Still used by {uses.describe()}; delete with ?force=true to take it from them.",
            uses.counts,
        )
    if not uses:
        return uses
    for role in _roles_using(names):
        role.scopes = sorted(set(role.scopes) - names)
        role.save(update_fields=["scopes", "updated_at"])
    for holder in scope_holders():
        holder.scope_remove(names, actor=actor)
    return uses


def service_get(*, service_id: object) -> Service | None:
    parsed = parse_uuid(service_id)
    return None if parsed is None else Service.objects.filter(pk=parsed).first()
