"""DRF permission classes: scopes (deny by default, loud when undeclared) and object grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from micro_platform.identity import Principal
from permissions.selectors import Permission, principal_may


@dataclass(frozen=True, slots=True)
class AnyScope:
    """A requirement met by holding any one of `scopes`: for an operation whose answer the
    view narrows further by scope (`/me` answers the private view only with `profile`)."""

    scopes: tuple[str, ...]

    def __init__(self, *scopes: str) -> None:
        if not scopes:
            raise ImproperlyConfigured("AnyScope needs at least one scope; use () for none")
        object.__setattr__(self, "scopes", tuple(scopes))


Requirement = tuple[str, ...] | AnyScope
ScopeDeclaration = Sequence[str] | AnyScope | Mapping[str, Sequence[str] | AnyScope]


def _requirement(declared: Sequence[str] | AnyScope) -> Requirement:
    return declared if isinstance(declared, AnyScope) else tuple(declared)


def declared_scopes(requirement: Requirement) -> tuple[str, ...]:
    """Every scope a requirement names (all of them, or the alternatives of an AnyScope)."""
    return requirement.scopes if isinstance(requirement, AnyScope) else requirement


def principal_meets(principal: Principal, requirement: Requirement) -> bool:
    if isinstance(requirement, AnyScope):
        return any(principal.has_scope(scope) for scope in requirement.scopes)
    return principal.has_scopes(requirement)


def insufficient_scope_detail(principal: Principal, requirement: Requirement) -> str:
    """The refusal's message, naming what the credential lacks: each missing scope of a
    tuple, or the alternatives of an AnyScope."""
    if isinstance(requirement, AnyScope):
        return f"The credential lacks one of: {' '.join(requirement.scopes)}."
    missing = [scope for scope in requirement if not principal.has_scope(scope)]
    return f"The credential lacks: {' '.join(missing)}."


def required_scopes_for(view: Any, method: str) -> Requirement | None:
    """The scopes `view` requires for `method`; None when the view has no handler for it.

    A method outside the view's `http_method_names` has no handler whatever attributes the
    view has (`DISPATCH` is not `dispatch`): the view answers 405.

    Raises ImproperlyConfigured when the view does not declare `required_scopes`: an
    endpoint that forgot its scopes must fail loudly, not fall open.
    """
    declared: ScopeDeclaration | None = getattr(view, "required_scopes", None)
    if declared is None:
        raise ImproperlyConfigured(
            f"{type(view).__name__} declares no required_scopes; use () for 'any principal'"
        )
    if method == "OPTIONS":
        return None  # metadata is switched off: the view answers 405
    handled = method.lower() in getattr(view, "http_method_names", ()) and hasattr(
        view, method.lower()
    )
    if not handled:
        return None  # the view answers 405 next
    if isinstance(declared, Mapping):
        lookup = "GET" if method == "HEAD" else method
        if lookup not in declared:
            raise ImproperlyConfigured(
                f"{type(view).__name__} declares no required_scopes for {method}"
            )
        return _requirement(declared[lookup])
    return _requirement(declared)


class HasRequiredScopes(BasePermission):
    """Allows an authenticated principal holding the scopes the view requires for the method
    (every one of a tuple, at least one of an AnyScope)."""

    message = "The credential lacks a scope this operation requires."
    code = "insufficient_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        required = required_scopes_for(view, request.method or "GET")
        principal = request.user
        if not isinstance(principal, Principal):
            return False
        if required is None or principal_meets(principal, required):
            return True
        # DRF makes a permission instance per request: the message may name this refusal.
        self.message = insufficient_scope_detail(principal, required)
        return False


# Which grant each method needs on an object: reading, changing, deleting.
METHOD_PERMISSIONS: Mapping[str, Permission] = {
    "GET": "read",
    "HEAD": "read",
    "PUT": "write",
    "PATCH": "write",
    "DELETE": "admin",
}


class HasObjectGrant(BasePermission):
    """Object access by grant: not readable → 404 (existence hidden); readable only → 403.

    The view names its `access_object_type`; the object's id is `str(obj.pk)`. A method
    outside METHOD_PERMISSIONS is denied.
    """

    message = "You do not have access to this object."
    code = "object_access_denied"

    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.user, Principal)

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        principal = request.user
        needed = METHOD_PERMISSIONS.get(request.method or "")
        if not isinstance(principal, Principal) or needed is None:
            return False
        target = {"object_type": view.access_object_type, "object_id": str(obj.pk)}
        if not principal_may(principal=principal, permission="read", **target):
            raise NotFound()
        return needed == "read" or principal_may(principal=principal, permission=needed, **target)
