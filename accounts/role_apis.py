"""Roles given to groups and users: thin views over permissions.roles.

Only `api_admin` gives or takes a role: a role may bundle any scope, so giving one is giving
those scopes, and a group's own admins (who manage its members) do not administer roles.
Reading which roles a group holds is for its members and `api_admin` (another caller learns
nothing of the group, as the group list shows); a user's, for the user and `api_admin`.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors
from accounts.api_rules import get_user_or_404
from micro_platform import scopes as sc
from micro_platform.http import principal_of
from micro_platform.identity import Principal
from micro_platform.openapi import PAGE_PARAMETERS, page_of, problem
from micro_platform.pagination import CursorPage
from micro_platform.serializers import StrictSerializer
from permissions import roles
from permissions.role_selectors import roles_given_to
from permissions.serializers import PageIn, RoleOut

REQUIRED_SCOPES = {"GET": (sc.USERS_READ,), "POST": (sc.API_ADMIN,)}


class RoleAssignIn(StrictSerializer):
    role_id = serializers.UUIDField()


def readable_group(principal: Principal, group_id: str) -> uuid.UUID:
    """The group's id if the principal may see its roles; 404 otherwise, as for no group."""
    group = selectors.group_get(group_id=group_id)
    if group is None or not (
        principal.is_admin or group.pk in selectors.group_ids_of_user(user_id=principal.user_id)
    ):
        raise NotFound("No group with this id.", code="group_not_found")
    return group.pk


def group_or_404(group_id: str) -> uuid.UUID:
    group = selectors.group_get(group_id=group_id)
    if group is None:
        raise NotFound("No group with this id.", code="group_not_found")
    return group.pk


def readable_user(principal: Principal, user_id: str) -> uuid.UUID:
    user = get_user_or_404(user_id)
    if not (principal.is_admin or principal.is_self(user.pk)):
        raise PermissionDenied(
            "Only the user and `api_admin` see a user's roles.", code="not_allowed"
        )
    return user.pk


def paging(request: Request) -> CursorPage:
    """The list's paginator, its query checked first, whatever the id: malformed page
    parameters are a 400, a cursor this API did not write a 404 `invalid_cursor`."""
    PageIn(data=request.query_params.dict()).is_valid(raise_exception=True)
    paginator = CursorPage()
    paginator.get_page_size(request)
    paginator.decode_cursor(request)
    return paginator


def listed(
    view: APIView, request: Request, paginator: CursorPage, subject: tuple[str, uuid.UUID]
) -> Response:
    rows = roles_given_to(subject_type=subject[0], subject_id=subject[1])
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(RoleOut(page, many=True).data)


def given(request: Request, subject_type: str, subject_id: uuid.UUID) -> Response:
    serializer = RoleAssignIn(data=request.data)
    serializer.is_valid(raise_exception=True)
    role = roles.role_get(role_id=serializer.validated_data["role_id"])
    if role is None:
        raise ValidationError({"role_id": ["No role with this id."]}, code="role_not_found")
    _, created = roles.role_assign(
        actor=principal_of(request), role=role, subject_type=subject_type, subject_id=subject_id
    )
    code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return Response(RoleOut(role).data, status=code)


def taken(request: Request, subject_type: str, subject_id: uuid.UUID, role_id: str) -> Response:
    role = roles.role_get(role_id=role_id)
    if role is None or not roles.role_unassign(
        actor=principal_of(request), role=role, subject_type=subject_type, subject_id=subject_id
    ):
        raise NotFound("This role is not given here.", code="role_not_given")
    return Response(status=status.HTTP_204_NO_CONTENT)


GIVE_RESPONSES = {
    201: RoleOut,
    200: RoleOut,
    403: problem("`insufficient_scope`: only `api_admin` gives roles."),
}


class GroupRoleListApi(APIView):
    """The roles given to a group; giving it one (`api_admin`)."""

    required_scopes = REQUIRED_SCOPES

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        operation_id="group_roles_list",
        responses={200: page_of(RoleOut, "GroupRolePage"), 404: problem("No group with this id.")},
    )
    def get(self, request: Request, group_id: str) -> Response:
        """For `api_admin` and the group's members."""
        paginator = paging(request)
        group = readable_group(principal_of(request), group_id)
        return listed(self, request, paginator, ("group", group))

    @extend_schema(
        request=RoleAssignIn,
        responses={**GIVE_RESPONSES, 404: problem("No group with this id.")},
    )
    def post(self, request: Request, group_id: str) -> Response:
        """201 when given now, 200 when it already was; its members hold the role's scopes
        from their next token, API-key verify and dashboard request."""
        return given(request, "group", group_or_404(group_id))


class GroupRoleDetailApi(APIView):
    """Takes a role from a group (`api_admin`)."""

    required_scopes = {"DELETE": (sc.API_ADMIN,)}

    @extend_schema(responses={204: None, 404: problem("No such group, or the role is not given.")})
    def delete(self, request: Request, group_id: str, role_id: str) -> Response:
        return taken(request, "group", group_or_404(group_id), role_id)


class UserRoleListApi(APIView):
    """The roles given to a user directly; giving one (`api_admin`)."""

    required_scopes = REQUIRED_SCOPES

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        operation_id="user_roles_list",
        responses={
            200: page_of(RoleOut, "UserRolePage"),
            403: problem("`not_allowed`: neither the user nor `api_admin`."),
            404: problem("No user with this id."),
        },
    )
    def get(self, request: Request, user_id: str) -> Response:
        """For the user and `api_admin`; the roles of the user's groups are listed there."""
        paginator = paging(request)
        user = readable_user(principal_of(request), user_id)
        return listed(self, request, paginator, ("user", user))

    @extend_schema(
        request=RoleAssignIn,
        responses={**GIVE_RESPONSES, 404: problem("No user with this id.")},
    )
    def post(self, request: Request, user_id: str) -> Response:
        """201 when given now, 200 when it already was."""
        return given(request, "user", get_user_or_404(user_id).pk)


class UserRoleDetailApi(APIView):
    """Takes a role from a user (`api_admin`)."""

    required_scopes = {"DELETE": (sc.API_ADMIN,)}

    @extend_schema(responses={204: None, 404: problem("No such user, or the role is not given.")})
    def delete(self, request: Request, user_id: str, role_id: str) -> Response:
        return taken(request, "user", get_user_or_404(user_id).pk, role_id)
