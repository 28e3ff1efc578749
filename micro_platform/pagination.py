"""Cursor pagination: `{"results": [...], "next": url-or-null}`, page_size capped at 100."""

from __future__ import annotations

import re
from datetime import UTC
from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.response import Response
from rest_framework.serializers import Serializer


def invalid_cursor() -> NotFound:
    """A cursor this API did not write names no page: a 404, as DRF's own paginator answers
    (the schema can say a cursor is a non-empty string, not which strings decode)."""
    return NotFound("Invalid cursor.", code="invalid_cursor")


def _is_page_size(raw: str) -> bool:
    """A positive integer in decimal digits (any size: a larger one than the cap is capped)."""
    return re.fullmatch(r"[0-9]+", raw) is not None and raw.strip("0") != ""


class CursorPage(CursorPagination):
    page_size = 50
    max_page_size = 100
    page_size_query_param = "page_size"
    ordering = ("created_at", "id")

    def get_page_size(self, request: Any) -> int | None:
        # DRF falls back to the default size on a malformed value; the schema says a positive
        # integer, so anything else is a 400. A larger one than 100 is capped at 100, as the
        # schema's description says (a client asking for "everything" gets the largest page).
        raw = request.query_params.get(self.page_size_query_param)
        if raw is not None and not _is_page_size(raw):
            raise ValidationError({"page_size": ["A positive integer."]}, code="invalid_page_size")
        return super().get_page_size(request)

    def check_parameters(self, request: Any) -> None:
        """The page parameters' form (a positive page size, a non-empty cursor), checked
        even where a branch does not page, as the schema declares them for the operation."""
        self.get_page_size(request)
        if request.query_params.get(self.cursor_query_param) == "":
            raise ValidationError({"cursor": ["An empty cursor."]}, code="blank")

    def decode_cursor(self, request: Any) -> Cursor | None:
        self.check_parameters(request)
        try:
            cursor = super().decode_cursor(request)
        except NotFound as exc:
            raise invalid_cursor() from exc
        # The position is client-controlled and compared with `created_at`: a forged value
        # must be refused, not a ValidationError (500) or a naive-datetime warning from the ORM.
        first = self.ordering if isinstance(self.ordering, str) else self.ordering[0]
        if cursor is not None and cursor.position is not None and first.lstrip("-") == "created_at":
            try:
                position = parse_datetime(str(cursor.position))
                # An offset that pushes the instant past year 9999 or before year 1 cannot
                # be compared in UTC (OverflowError): as invalid as a malformed one.
                if position is not None and position.tzinfo is not None:
                    position.astimezone(UTC)
            except (ValueError, OverflowError):
                position = None
            if position is None or position.tzinfo is None:
                raise invalid_cursor()
        return cursor

    def get_paginated_response(self, data: Any) -> Response:
        return Response({"results": data, "next": self.get_next_link()})

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["results", "next"],
            "properties": {
                "results": schema,
                "next": {"type": "string", "format": "uri", "nullable": True},
            },
        }


def paginated_response(view: Any, request: Any, rows: Any, out: type[Serializer[Any]]) -> Response:
    """One cursor page of `rows`, each rendered by the serializer `out`."""
    paginator = CursorPage()
    page = paginator.paginate_queryset(rows, request, view=view)
    return paginator.get_paginated_response(out(page, many=True).data)
