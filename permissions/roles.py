"""Writes of roles: a named set of scopes from any services, given to users and groups.

Only `api_admin` administers roles (the views check it): a role may bundle any scope, so giving
one is giving those scopes. Whether the user or group a role is given to exists is the caller's
question (accounts), as for grants. Every change is audited; what a role grants is read again
for the next token, API-key verify and dashboard request (accounts.selectors.user_held_scopes),
and the model signals re-read cached API keys (authn.apps).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction

from audit.services import audit_record
from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from micro_platform.scopes import ScopesRefused, UnknownScope
from permissions import catalogue
from permissions.models import Role, RoleAssignment
from permissions.registry import DESCRIPTION_MAX_LENGTH, Conflict
from permissions.services import audited

ROLE_NAME_PATTERN = r"^[a-z][a-z0-9_.-]{0,62}$"
ROLE_NAME = re.compile(ROLE_NAME_PATTERN.removesuffix("$") + r"\Z")
MAX_ROLE_SCOPES = 200
SUBJECT_TYPES = ("user", "group")


def _audit(*, type: str, actor: Principal | None, role: Role, data: dict[str, object]) -> None:
    with transaction.atomic(using=DEFAULT_DB_ALIAS):
        audit_record(
            type=type,
            actor=actor,
            subject_type="role",
            subject_id=role.pk,
            data={"role_id": str(role.pk), "name": role.name, **data},
        )


def _check_scopes(scopes: object) -> list[str]:
    if isinstance(scopes, str) or not isinstance(scopes, Collection):
        raise ValidationError({"scopes": ["Give a list of scope names."]})
    if len(scopes) > MAX_ROLE_SCOPES:
        raise ValidationError({"scopes": [f"At most {MAX_ROLE_SCOPES} scopes."]})
    try:
        return sorted(catalogue.validate_scopes(str(name) for name in scopes))
    except UnknownScope as exc:
        raise ScopesRefused({"scopes": [f"{str(exc).capitalize()}."]}) from exc


def _check_description(description: object) -> str:
    # A NUL byte is refused as the registry refuses it: PostgreSQL cannot store one in text.
    if (
        not isinstance(description, str)
        or len(description) > DESCRIPTION_MAX_LENGTH
        or "\x00" in description
    ):
        raise ValidationError(
            {"description": [f"Give at most {DESCRIPTION_MAX_LENGTH} characters."]}
        )
    return description.strip()


def role_create(
    *, actor: Principal | None, name: str, scopes: Collection[str], description: str = ""
) -> Role:
    if not isinstance(name, str) or not ROLE_NAME.match(name):
        raise ValidationError({"name": [f"A role name matches {ROLE_NAME_PATTERN}."]})
    checked = _check_scopes(scopes)
    cleaned = _check_description(description)
    if Role.objects.filter(name=name).exists():
        raise Conflict("duplicate", "A role with this name exists.", field="name")
    try:
        with audited():
            role = Role.objects.create(name=name, scopes=checked, description=cleaned)
            _audit(type="role.created", actor=actor, role=role, data={"scopes": checked})
    except IntegrityError as exc:  # the same role created at the same moment
        raise Conflict("duplicate", "A role with this name exists.", field="name") from exc
    return role


def role_update(
    *,
    actor: Principal | None,
    role: Role,
    scopes: Collection[str] | None = None,
    description: str | None = None,
) -> Role:
    """Changes a role's scopes or description (never its name); no change, no event."""
    changes: dict[str, object] = {}
    if scopes is not None:
        checked = _check_scopes(scopes)
        if checked != sorted(role.scopes):
            changes["scopes"] = checked
    if description is not None:
        cleaned = _check_description(description)
        if cleaned != role.description:
            changes["description"] = cleaned
    if not changes:
        return role
    with audited():
        for field, value in changes.items():
            setattr(role, field, value)
        role.save(update_fields=[*changes, "updated_at"])
        _audit(
            type="role.updated",
            actor=actor,
            role=role,
            data={"fields": sorted(changes), "scopes": role.scopes},
        )
    return role


def role_delete(*, actor: Principal | None, role: Role) -> None:
    """Deletes the role and takes it from everyone it was given to."""
    with audited():
        _audit(
            type="role.deleted",
            actor=actor,
            role=role,
            data={"assignments": role.assignments.count()},
        )
        role.delete()


def role_assign(
    *, actor: Principal | None, role: Role, subject_type: str, subject_id: uuid.UUID
) -> tuple[RoleAssignment, bool]:
    """Gives the role to the user or group; (assignment, created). Giving it again is a no-op."""
    if subject_type not in SUBJECT_TYPES:
        raise ValueError(f"subject_type must be one of {SUBJECT_TYPES}")
    found = RoleAssignment.objects.filter(
        role=role, subject_type=subject_type, subject_id=subject_id
    ).first()
    if found is not None:
        return found, False
    try:
        with audited():
            assignment = RoleAssignment.objects.create(
                role=role,
                subject_type=subject_type,
                subject_id=subject_id,
                assigned_by=actor.user_id if actor is not None else None,
            )
            _audit(
                type="role.assigned",
                actor=actor,
                role=role,
                data={"subject_type": subject_type, "subject_id": str(subject_id)},
            )
    except IntegrityError:  # given at the same moment by another request
        found = RoleAssignment.objects.filter(
            role=role, subject_type=subject_type, subject_id=subject_id
        ).first()
        if found is None:
            raise
        return found, False
    return assignment, True


def role_unassign(
    *, actor: Principal | None, role: Role, subject_type: str, subject_id: uuid.UUID
) -> bool:
    """Takes the role from the user or group; False when it was not given."""
    with audited():
        deleted, _ = RoleAssignment.objects.filter(
            role=role, subject_type=subject_type, subject_id=subject_id
        ).delete()
        if deleted:
            _audit(
                type="role.unassigned",
                actor=actor,
                role=role,
                data={"subject_type": subject_type, "subject_id": str(subject_id)},
            )
    return bool(deleted)


def role_get(*, role_id: object) -> Role | None:
    parsed = parse_uuid(role_id)
    return None if parsed is None else Role.objects.filter(pk=parsed).first()
