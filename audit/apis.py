"""Audit events: every event for `api_admin`, a user's own at /me/events."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.selectors import audit_events_filtered, audit_events_of_user
from audit.serializers import AuditEventFilterIn, AuditEventOut
from micro_platform import scopes as sc
from micro_platform.http import principal_of
from micro_platform.openapi import PAGE_PARAMETERS, page_of
from micro_platform.pagination import CursorPage

FILTERS = ("type", "actor_id", "since")


class AuditPage(CursorPage):
    page_size = 50
    ordering = ("-created_at", "-id")


AUDIT_EVENT_PAGE = page_of(AuditEventOut, "AuditEventPage")


class AuditEventListApi(APIView):
    """Audit events, newest first; filters: `type`, `actor_id`, `since` (ISO 8601)."""

    required_scopes = (sc.API_ADMIN,)

    @extend_schema(
        parameters=[
            OpenApiParameter("type", str, description="An event type, e.g. `login.failed`."),
            OpenApiParameter("actor_id", str, description="The acting user's id (UUID)."),
            OpenApiParameter("since", str, description="ISO 8601 time; events at or after it."),
            *PAGE_PARAMETERS,
        ],
        responses={200: AUDIT_EVENT_PAGE},
    )
    def get(self, request: Request) -> Response:
        # Only the filter parameters are validated here (`cursor`/`page_size` are the pager's);
        # an empty one (`?type=`) means no filter.
        params = request.query_params
        raw = {name: params[name] for name in FILTERS if params.get(name)}
        filters = AuditEventFilterIn(data=raw)
        filters.is_valid(raise_exception=True)
        events = audit_events_filtered(
            type=filters.validated_data.get("type"),
            actor_id=filters.validated_data.get("actor_id"),
            since=filters.validated_data.get("since"),
        )
        paginator = AuditPage()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventOut(page, many=True).data)


class MeEventListApi(APIView):
    """The caller's own events (as actor or as the account concerned), newest first."""

    required_scopes = (sc.PROFILE,)

    @extend_schema(parameters=PAGE_PARAMETERS, responses={200: AUDIT_EVENT_PAGE})
    def get(self, request: Request) -> Response:
        events = audit_events_of_user(user_id=principal_of(request).user_id)
        paginator = AuditPage()
        page = paginator.paginate_queryset(events, request, view=self)
        return paginator.get_paginated_response(AuditEventOut(page, many=True).data)
