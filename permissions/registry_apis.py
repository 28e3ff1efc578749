"""Scope registry and roles API: thin views over permissions.registry and permissions.roles.

Reading the registry (services and scopes) is open to any authenticated caller: it names
permissions, not data, discovery already lists the scopes, and a service reads it to learn
what to check. Reading roles needs `users:read`, as the directory does: a role says what its
holders may do. Every change needs `api_admin`, since a scope or a role is a power to give.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from micro_platform import scopes as sc
from micro_platform.errors import Problem, validation_problem
from micro_platform.http import principal_of
from micro_platform.openapi import PAGE_PARAMETERS, PROBLEM_SERIALIZER, page_of, problem
from micro_platform.pagination import paginated_response
from permissions import registry, registry_selectors, roles
from permissions.models import Role, Scope, Service
from permissions.serializers import (
    ForceIn,
    PageIn,
    RoleIn,
    RoleOut,
    RoleUpdateIn,
    ScopeFilterIn,
    ScopeIn,
    ScopeOut,
    ScopeUpdateIn,
    ServiceIn,
    ServiceOut,
    ServiceUpdateIn,
)

ADMIN_WRITES = {"GET": (), "POST": (sc.API_ADMIN,)}
CONFLICT = problem(
    "`duplicate` (the name is taken or reserved), `audience_taken` (the audience is another"
    " service's audience or name), `name_taken` (the name is another service's audience), or"
    " `built_in` (the built-in service and its scopes are the code's)."
)
IN_USE = OpenApiResponse(
    response=PROBLEM_SERIALIZER,
    description=(
        "`scope_in_use`: still held by roles, groups, users, API keys or OAuth clients;"
        " `uses` counts them by kind. Delete with `?force=true` to take it from them."
        " `built_in`: the built-in service and its scopes are the code's."
    ),
)
FORCE = OpenApiParameter(
    "force", bool, description="Delete even when in use, taking the scopes from every holder."
)


def conflict(exc: registry.Conflict) -> Problem:
    """A registry refusal as a 409; a scope in use says who holds it (`uses`)."""
    extra = {"uses": exc.uses} if isinstance(exc, registry.ScopeInUse) else None
    return Problem(status_code=409, code=exc.code, detail=exc.message, extra=extra)


@contextmanager
def refusals_as_problems(field: str | None = None) -> Iterator[None]:
    """A registry or role service's refusals as problems: its ValidationError a 400 (on
    `field` when it names none), its Conflict a 409."""
    try:
        yield
    except DjangoValidationError as exc:
        raise validation_problem(exc, field or "non_field_errors") from exc
    except registry.Conflict as exc:
        raise conflict(exc) from exc


def valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def service_or_404(service_id: str) -> Service:
    service = registry_selectors.service_detail(service_id=service_id)
    if service is None:
        raise NotFound("No service with this id.", code="service_not_found")
    return service


def scope_or_404(service: Service, name: str) -> Scope:
    scope = registry_selectors.scope_of_service(service=service, name=name)
    if scope is None:
        raise NotFound("This service has no scope of this name.", code="scope_not_found")
    return scope


def role_or_404(role_id: str) -> Role:
    role = roles.role_get(role_id=role_id)
    if role is None:
        raise NotFound("No role with this id.", code="role_not_found")
    return role


# --- Services ----------------------------------------------------------------------------------


class ServiceListApi(APIView):
    """The registered services with their scopes; registering one."""

    required_scopes = ADMIN_WRITES

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        operation_id="services_list",
        responses={200: page_of(ServiceOut, "ServicePage")},
    )
    def get(self, request: Request) -> Response:
        valid(PageIn, request.query_params.dict())
        return paginated_response(self, request, registry_selectors.services_all(), ServiceOut)

    @extend_schema(request=ServiceIn, responses={201: ServiceOut, 409: CONFLICT})
    def post(self, request: Request) -> Response:
        """A name matching `^[a-z][a-z0-9_-]{0,62}$`; the audience defaults to the name."""
        data = valid(ServiceIn, request.data)
        with refusals_as_problems("name"):
            created = registry.service_create(actor=principal_of(request), **data)
        return Response(ServiceOut(service_or_404(str(created.pk))).data, status=201)


class ServiceDetailApi(APIView):
    """One service: read it, change its audience or description, delete it."""

    required_scopes = {"GET": (), "PATCH": (sc.API_ADMIN,), "DELETE": (sc.API_ADMIN,)}

    @extend_schema(responses={200: ServiceOut, 404: problem("No service with this id.")})
    def get(self, request: Request, service_id: str) -> Response:
        return Response(ServiceOut(service_or_404(service_id)).data)

    @extend_schema(
        request=ServiceUpdateIn,
        responses={200: ServiceOut, 404: problem("No service with this id."), 409: CONFLICT},
    )
    def patch(self, request: Request, service_id: str) -> Response:
        """The audience or the description; a name never changes (`name` is a 400)."""
        service = service_or_404(service_id)
        data = valid(ServiceUpdateIn, request.data)
        with refusals_as_problems("audience"):
            registry.service_update(actor=principal_of(request), service=service, **data)
        return Response(ServiceOut(service_or_404(service_id)).data)

    @extend_schema(
        parameters=[FORCE],
        responses={204: None, 404: problem("No service with this id."), 409: IN_USE},
    )
    def delete(self, request: Request, service_id: str) -> Response:
        """Deletes the service and its scopes; refused while any is in use, unless forced."""
        service = service_or_404(service_id)
        force = valid(ForceIn, request.query_params.dict())["force"]
        with refusals_as_problems():
            registry.service_delete(actor=principal_of(request), service=service, force=force)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Scopes ------------------------------------------------------------------------------------


class ServiceScopeListApi(APIView):
    """Registers a scope of a service."""

    required_scopes = {"POST": (sc.API_ADMIN,)}

    @extend_schema(
        request=ScopeIn,
        responses={201: ScopeOut, 404: problem("No service with this id."), 409: CONFLICT},
    )
    def post(self, request: Request, service_id: str) -> Response:
        """A name `<service>:<action>` matching `^[a-z][a-z0-9_-]{0,62}:[a-z][a-z0-9_.-]{0,62}$`."""
        service = service_or_404(service_id)
        data = valid(ScopeIn, request.data)
        with refusals_as_problems("name"):
            scope = registry.scope_create(actor=principal_of(request), service=service, **data)
        return Response(ScopeOut(scope).data, status=status.HTTP_201_CREATED)


class ServiceScopeDetailApi(APIView):
    """One scope of a service: change its description, delete it."""

    required_scopes = {"PATCH": (sc.API_ADMIN,), "DELETE": (sc.API_ADMIN,)}

    @extend_schema(
        request=ScopeUpdateIn,
        responses={200: ScopeOut, 404: problem("No such service or scope."), 409: CONFLICT},
    )
    def patch(self, request: Request, service_id: str, name: str) -> Response:
        """The description only; a name never changes (`name` is a 400)."""
        scope = scope_or_404(service_or_404(service_id), name)
        data = valid(ScopeUpdateIn, request.data)
        with refusals_as_problems("description"):
            registry.scope_update(actor=principal_of(request), scope=scope, **data)
        return Response(ScopeOut(scope).data)

    @extend_schema(
        parameters=[FORCE],
        responses={204: None, 404: problem("No such service or scope."), 409: IN_USE},
    )
    def delete(self, request: Request, service_id: str, name: str) -> Response:
        """Refused while a role, group, user, API key or OAuth client holds it, unless forced:
        then it is taken from each (a key left with no scope is revoked, OAuth tokens carrying
        it end)."""
        scope = scope_or_404(service_or_404(service_id), name)
        force = valid(ForceIn, request.query_params.dict())["force"]
        with refusals_as_problems():
            registry.scope_delete(actor=principal_of(request), scope=scope, force=force)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ScopeListApi(APIView):
    """Every registered scope with its service, the built-in ones included."""

    required_scopes = ()

    @extend_schema(
        parameters=[ScopeFilterIn, *PAGE_PARAMETERS],
        operation_id="scopes_list",
        responses={200: page_of(ScopeOut, "ScopePage")},
    )
    def get(self, request: Request) -> Response:
        wanted = valid(ScopeFilterIn, request.query_params.dict()).get("service")
        rows = registry_selectors.scopes_matching(service=wanted)
        return paginated_response(self, request, rows, ScopeOut)


# --- Roles -------------------------------------------------------------------------------------


class RoleListApi(APIView):
    """The roles; creating one."""

    required_scopes = {"GET": (sc.USERS_READ,), "POST": (sc.API_ADMIN,)}

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        operation_id="roles_list",
        responses={200: page_of(RoleOut, "RolePage")},
    )
    def get(self, request: Request) -> Response:
        valid(PageIn, request.query_params.dict())
        return paginated_response(self, request, registry_selectors.roles_all(), RoleOut)

    @extend_schema(request=RoleIn, responses={201: RoleOut, 409: CONFLICT})
    def post(self, request: Request) -> Response:
        """A name matching `^[a-z][a-z0-9_.-]{0,62}$` and registered scopes of any services."""
        data = valid(RoleIn, request.data)
        with refusals_as_problems("name"):
            role = roles.role_create(actor=principal_of(request), **data)
        return Response(RoleOut(role).data, status=status.HTTP_201_CREATED)


class RoleDetailApi(APIView):
    """One role: read it, change its scopes or description, delete it."""

    required_scopes = {"GET": (sc.USERS_READ,), "PATCH": (sc.API_ADMIN,), "DELETE": (sc.API_ADMIN,)}

    @extend_schema(responses={200: RoleOut, 404: problem("No role with this id.")})
    def get(self, request: Request, role_id: str) -> Response:
        return Response(RoleOut(role_or_404(role_id)).data)

    @extend_schema(
        request=RoleUpdateIn, responses={200: RoleOut, 404: problem("No role with this id.")}
    )
    def patch(self, request: Request, role_id: str) -> Response:
        """The scopes (replaced as a whole) or the description; a name never changes. Its
        holders get the new scopes in their next token, API-key verify and dashboard request."""
        role = role_or_404(role_id)
        data = valid(RoleUpdateIn, request.data)
        with refusals_as_problems("scopes"):
            role = roles.role_update(actor=principal_of(request), role=role, **data)
        return Response(RoleOut(role).data)

    @extend_schema(responses={204: None, 404: problem("No role with this id.")})
    def delete(self, request: Request, role_id: str) -> Response:
        """Deletes the role and takes it from every user and group it was given to."""
        roles.role_delete(actor=principal_of(request), role=role_or_404(role_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
