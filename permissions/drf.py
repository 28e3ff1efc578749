"""A DRF permission class for object grants (the scope classes are micro_platform.scope_checks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework.exceptions import NotFound
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from micro_platform.identity import Principal
from permissions.selectors import Permission, principal_permissions

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
    outside METHOD_PERMISSIONS is denied. One query per object: the principal's grants on it.
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
        held = principal_permissions(
            principal=principal, object_type=view.access_object_type, object_id=str(obj.pk)
        )
        if "read" not in held:
            raise NotFound()
        return needed in held
