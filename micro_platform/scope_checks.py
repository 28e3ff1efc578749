"""Scope checks for API views: each view declares `required_scopes` and HasRequiredScopes (the
default permission class) refuses a credential without them; an undeclared view fails loudly
instead of falling open."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.request import Request

from micro_platform.identity import Principal


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


def answers(view: Any, method: str) -> bool:
    """Whether `view` has a handler for `method`; otherwise it answers 405, whatever the
    credential. OPTIONS has none unless the view gives it its own handler: DRF's answers 405,
    metadata being switched off. A method outside the view's `http_method_names` has none
    whatever attributes the view has (`DISPATCH` is not `dispatch`)."""
    verb = method.lower()
    if verb not in getattr(view, "http_method_names", ()):
        return False
    if verb == "options":
        # Imported here: DRF's views module loads the permission classes named in the settings.
        from rest_framework.views import APIView

        return getattr(type(view), "options", APIView.options) is not APIView.options
    return hasattr(view, verb)


def required_scopes_for(view: Any, method: str) -> Requirement | None:
    """The scopes `view` requires for `method`; None when the view has no handler for it
    (`answers`): the view answers 405.

    Raises ImproperlyConfigured when the view does not declare `required_scopes`: an
    endpoint that forgot its scopes must fail loudly, not fall open.
    """
    declared: ScopeDeclaration | None = getattr(view, "required_scopes", None)
    if declared is None:
        raise ImproperlyConfigured(
            f"{type(view).__name__} declares no required_scopes; use () for 'any principal'"
        )
    if not answers(view, method):
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


def admits_anonymous(permission: object) -> bool:
    """Whether a view's permission lets a caller without a credential in (the operation is
    public, or public for some calls): AllowAny, or a class saying `admits_anonymous`."""
    return isinstance(permission, AllowAny) or getattr(permission, "admits_anonymous", False)
