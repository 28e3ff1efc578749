"""DRF permission classes: scopes (deny by default, loud when undeclared) and object grants."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from authn.principal import Principal
from permissions.selectors import Permission, principal_may

ScopeDeclaration = Sequence[str] | Mapping[str, Sequence[str]]


def required_scopes_for(view: Any, method: str) -> tuple[str, ...] | None:
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
        return tuple(declared[lookup])
    return tuple(declared)


class HasRequiredScopes(BasePermission):
    """Allows an authenticated principal holding every scope the view requires for the method."""

    message = "The credential lacks a scope this operation requires."
    code = "insufficient_scope"

    def has_permission(self, request: Request, view: Any) -> bool:
        required = required_scopes_for(view, request.method or "GET")
        principal = request.user
        if not isinstance(principal, Principal):
            return False
        if required is None:
            return True
        return principal.has_scopes(required)


# Which grant each method needs on an object (spec §4.8): reading, changing, deleting.
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
