"""Grants API (docs/objects.md): thin views; who may manage a grant is decided in the services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from micro_platform import scopes as sc
from micro_platform.http import principal_of
from micro_platform.identity import Principal
from micro_platform.openapi import PAGE_PARAMETERS, page_of, problem
from micro_platform.pagination import paginated_response
from permissions import selectors, services
from permissions.ports import group_ids_of_user
from permissions.serializers import (
    CheckIn,
    CheckOut,
    GrantFilterIn,
    GrantIn,
    GrantOut,
)

DENIED = "Only api_admin or an admin of this object may manage its grants."


def denied() -> PermissionDenied:
    return PermissionDenied(DENIED, code="not_object_admin")


def listable_by(principal: Principal, filters: dict[str, Any]) -> bool:
    """api_admin lists any grants; an object admin lists those of one object it administers."""
    if principal.is_admin:
        return True
    if "object_type" not in filters or "object_id" not in filters:
        return False
    return services.access_may_manage(
        principal=principal, object_type=filters["object_type"], object_id=filters["object_id"]
    )


class GrantListApi(APIView):
    """Create or replace a grant; list grants."""

    required_scopes = {"GET": (sc.OBJECTS_READ,), "POST": (sc.OBJECTS_WRITE,)}

    @extend_schema(
        parameters=[GrantFilterIn, *PAGE_PARAMETERS],
        operation_id="access_list",
        responses={200: page_of(GrantOut, "GrantPageOut")},
    )
    def get(self, request: Request) -> Response:
        """api_admin: any grants. Object admins: give `object_type` and `object_id`."""
        filters = GrantFilterIn(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        wanted = {
            k: v for k, v in filters.validated_data.items() if k not in ("cursor", "page_size")
        }
        if not listable_by(principal_of(request), wanted):
            raise denied()
        return paginated_response(self, request, selectors.grants_matching(**wanted), GrantOut)

    @extend_schema(request=GrantIn, responses={201: GrantOut})
    def post(self, request: Request) -> Response:
        """Upsert of the one grant per object and subject (api_admin or an object admin)."""
        serializer = GrantIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            grant, _ = services.access_grant(
                actor=principal_of(request), **serializer.validated_data
            )
        except services.AccessDenied as exc:
            raise denied() from exc
        return Response(GrantOut(grant).data, status=status.HTTP_201_CREATED)


class GrantDetailApi(APIView):
    """Revoke one grant."""

    required_scopes = {"DELETE": (sc.OBJECTS_WRITE,)}

    @extend_schema(responses={204: None, 404: problem("No grant with this id.")})
    def delete(self, request: Request, grant_id: str) -> Response:
        """Effective on the next request of the subject (api_admin or an object admin)."""
        grant = selectors.grant_get(grant_id=grant_id)
        if grant is None:
            raise NotFound("No grant with this id.", code="grant_not_found")
        try:
            services.access_revoke(actor=principal_of(request), grant=grant)
        except services.AccessDenied as exc:
            raise denied() from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class AccessCheckApi(APIView):
    """Whether a user (by default the caller) holds a permission on an object."""

    required_scopes = ()

    @extend_schema(request=CheckIn, responses={200: CheckOut})
    def post(self, request: Request) -> Response:
        """User grants and the subject's group grants count; another subject needs api_admin."""
        serializer = CheckIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        principal = principal_of(request)
        subject_id = data.pop("subject_id", None)
        if subject_id is None or principal.is_self(subject_id):
            allowed = selectors.principal_may(principal=principal, **data)
        elif principal.is_admin:
            groups = group_ids_of_user(user_id=subject_id)
            allowed = selectors.access_check(user_id=subject_id, group_ids=groups, **data)
        else:
            raise PermissionDenied(
                "Checking another subject needs api_admin.", code="insufficient_scope"
            )
        return Response(CheckOut({"allowed": allowed}).data)
