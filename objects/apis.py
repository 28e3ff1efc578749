"""Objects API (docs/objects.md): an example resource service checking grants per object."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException, NotFound, PermissionDenied
from rest_framework.pagination import Cursor
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from micro_platform import scopes as sc
from micro_platform.http import principal_of
from micro_platform.openapi import PAGE_PARAMETERS, page_of, problem
from micro_platform.pagination import CursorPage, invalid_cursor
from objects import selectors, services
from objects.serializers import ObjectCreateIn, ObjectOut, ObjectUpdateIn
from permissions.selectors import PageWindow

NOT_FOUND = "No object with this id."


class ObjectCursorPage(CursorPage):
    """Pages by id: ids are time-ordered, and the grants index yields them in that order."""

    ordering = ("id",)  # type: ignore[assignment]  # the base declares two fields

    def decode_cursor(self, request: Request) -> Cursor | None:
        cursor = super().decode_cursor(request)
        # The position is client-controlled and compared in SQL: only a well-formed id passes.
        position = None if cursor is None else cursor.position
        if position is not None and selectors.parse_object_id(str(position)) != position:
            raise invalid_cursor()
        return cursor

    def window(self, request: Request) -> PageWindow:
        """The ids the page may read: past the cursor, the page, the rows the cursor
        skips and the one looked ahead at (as `paginate_queryset` slices them)."""
        cursor = self.decode_cursor(request)
        offset, reverse, position = cursor if cursor is not None else (0, False, None)
        page_size = self.get_page_size(request) or self.page_size
        return PageWindow(
            position=None if position is None else str(position),
            reverse=bool(reverse),
            rows=offset + page_size + 1,
        )


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The object changed since this version; read it again and retry."
    default_code = "version_conflict"


def object_id_or_404(value: str) -> str:
    parsed = selectors.parse_object_id(value)
    if parsed is None:
        raise NotFound(NOT_FOUND, code="object_not_found")
    return parsed


def as_http_error(exc: Exception) -> APIException:
    if isinstance(exc, services.ForbiddenError):
        return PermissionDenied("Your grant on this object does not allow this.", code="forbidden")
    if isinstance(exc, services.VersionConflict):
        return Conflict()
    return NotFound(NOT_FOUND, code="object_not_found")


class ObjectListApi(APIView):
    """Objects the caller may read; create an object."""

    required_scopes = {"GET": (sc.OBJECTS_READ,), "POST": (sc.OBJECTS_WRITE,)}

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        operation_id="objects_list",
        responses={200: page_of(ObjectOut, "ObjectPageOut")},
    )
    def get(self, request: Request) -> Response:
        """Only objects the caller holds a read grant on (directly or through a group)."""
        paginator = ObjectCursorPage()
        queryset = selectors.objects_readable_page(
            principal=principal_of(request), window=paginator.window(request)
        )
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ObjectOut(page, many=True).data)

    @extend_schema(request=ObjectCreateIn, responses={201: ObjectOut})
    def post(self, request: Request) -> Response:
        """The creator gets read, write and admin on the new object."""
        serializer = ObjectCreateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        obj = services.object_create(actor=principal_of(request), **serializer.validated_data)
        return Response(ObjectOut(obj).data, status=status.HTTP_201_CREATED)


class ObjectDetailApi(APIView):
    """One object: read (read grant), change (write grant), delete (admin grant)."""

    required_scopes = {
        "GET": (sc.OBJECTS_READ,),
        "PATCH": (sc.OBJECTS_WRITE,),
        "DELETE": (sc.OBJECTS_WRITE,),
    }

    @extend_schema(responses={200: ObjectOut, 404: problem("Missing or not readable.")})
    def get(self, request: Request, object_id: str) -> Response:
        obj = selectors.object_get_readable(
            principal=principal_of(request), object_id=object_id_or_404(object_id)
        )
        if obj is None:
            raise NotFound(NOT_FOUND, code="object_not_found")
        return Response(ObjectOut(obj).data)

    @extend_schema(
        request=ObjectUpdateIn,
        responses={
            200: ObjectOut,
            404: problem("Missing or not readable."),
            409: problem("`version` is not the current one."),
        },
    )
    def patch(self, request: Request, object_id: str) -> Response:
        """Readable without a write grant → 403; a stale `version` → 409."""
        serializer = ObjectUpdateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = dict(serializer.validated_data)
        version = changes.pop("version", None)
        try:
            obj = services.object_update(
                actor=principal_of(request),
                object_id=object_id_or_404(object_id),
                changes=changes,
                version=version,
            )
        except (services.NotFoundError, services.ForbiddenError, services.VersionConflict) as exc:
            raise as_http_error(exc) from exc
        return Response(ObjectOut(obj).data)

    @extend_schema(responses={204: None, 404: problem("Missing or not readable.")})
    def delete(self, request: Request, object_id: str) -> Response:
        """Needs an admin grant; readable without one → 403. The object's grants go too."""
        try:
            services.object_delete(
                actor=principal_of(request), object_id=object_id_or_404(object_id)
            )
        except (services.NotFoundError, services.ForbiddenError) as exc:
            raise as_http_error(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)
