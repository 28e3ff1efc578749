"""OpenAPI generation: scopes and problem responses documented for every operation."""

from __future__ import annotations

import re
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from micro_platform.errors import PROBLEM_CONTENT_TYPE
from micro_platform.scope_checks import AnyScope, admits_anonymous, required_scopes_for
from micro_platform.serializers import StrictSerializer

PROBLEM_SERIALIZER = inline_serializer(
    name="Problem",
    fields={
        "type": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "code": serializers.CharField(),
        "errors": serializers.DictField(required=False),
    },
)

_STANDARD_ERRORS = {
    "400": (
        "Invalid input or query parameters (`errors` holds field messages); "
        "unknown fields are rejected."
    ),
    "401": "No valid credential (`WWW-Authenticate: Bearer`).",
    "403": "The credential lacks a required scope or access to the resource.",
    "404": "`invalid_cursor`: the cursor names no page (one this API did not write).",
    "413": "The request body exceeds 1 MiB.",
}


def problem(description: str) -> OpenApiResponse:
    return OpenApiResponse(response=PROBLEM_SERIALIZER, description=description)


def page_of(item: type[serializers.Serializer], name: str) -> Any:
    """The body of a cursor-paginated list: `{"results": [...], "next": url-or-null}`."""
    return inline_serializer(
        name=name,
        fields={"results": item(many=True), "next": serializers.URLField(allow_null=True)},
    )


CURSOR_PARAMETER = OpenApiParameter(
    "cursor",
    {"type": "string", "minLength": 1},
    description="The `next` link's cursor; one this API did not write is a 404 `invalid_cursor`.",
)
PAGE_SIZE_PARAMETER = OpenApiParameter(
    "page_size",
    {"type": "integer", "minimum": 1},
    description="Rows per page (default 50); a larger value than 100 is capped at 100.",
)
PAGE_PARAMETERS = [CURSOR_PARAMETER, PAGE_SIZE_PARAMETER]


# Every text field refuses NUL characters (DRF's CharField); one that trims whitespace and may
# not be blank also needs a character other than whitespace.
NO_NUL_PATTERN = r"^[^\x00]*$"
# The whitespace DRF trims (Python's str.strip(), i.e. str.isspace()), spelled out: `\s` means
# another set in each regex dialect (ECMA-262 lacks U+001C-U+001F and U+0085 and adds U+FEFF;
# Go's RE2 is ASCII only), and a client checking a value by the schema must agree with us.
TRIMMED_WHITESPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK_PATTERN = rf"^[^\x00]*[^\x00{TRIMMED_WHITESPACE}][^\x00]*$"


def text_pattern(field: serializers.CharField, mapped: dict[str, Any]) -> dict[str, Any]:
    """The pattern a request's text field must match, unless its own validators give one
    (which then already excludes NUL) or it has a format or a choice of values."""
    if "pattern" in mapped or "format" in mapped or "enum" in mapped:
        return {}
    if any(isinstance(v, RegexValidator) for v in field.validators):
        return {}
    blank_refused = field.trim_whitespace and not field.allow_blank
    return {"pattern": NOT_BLANK_PATTERN if blank_refused else NO_NUL_PATTERN}


BLANK_STRING = {"type": "string", "maxLength": 0}


def drop_redundant_blank(schema: dict[str, Any]) -> None:
    """drf-spectacular states a blank-allowed field with a pattern as `oneOf: [pattern, ""]`;
    when the pattern admits "" too, "" would match both and break `oneOf`: the pattern alone
    says it."""
    alternatives = schema.get("oneOf")
    if not alternatives or len(alternatives) != 2 or alternatives[1] != BLANK_STRING:
        return
    first = alternatives[0]
    if "pattern" in first and re.search(first["pattern"], "") is not None:
        del schema["oneOf"]
        schema.update(first)


class MicroAutoSchema(AutoSchema):
    """Adds each operation's required scopes and its problem-detail error responses."""

    def _is_public(self) -> bool:
        return any(admits_anonymous(p) for p in self.view.get_permissions())

    def get_auth(self) -> list[Any]:
        auths = super().get_auth()
        # drf-spectacular marks a credential optional (`{}`) for AllowAny only; a permission
        # that admits anonymous callers for some calls (the RPC facade's) is optional too.
        if self._is_public() and {} not in auths:
            auths.append({})
        return auths

    def get_description(self) -> str:  # type: ignore[override]
        text = super().get_description() or ""
        if self._is_public():
            return f"{text}\n\n**Authentication:** none required.".strip()
        try:
            scopes = required_scopes_for(self.view, self.method)
        except Exception:  # noqa: BLE001 - a misdeclared view is caught by the system check
            scopes = None
        if isinstance(scopes, AnyScope):
            listed = " or ".join(f"`{scope}`" for scope in scopes.scopes)
        else:
            listed = ", ".join(f"`{scope}`" for scope in scopes or ())
        listed = listed or "any authenticated principal"
        return f"{text}\n\n**Required scopes:** {listed}.".strip()

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        # Extends drf-spectacular's private hook: every operation documents its error bodies.
        responses = super()._get_response_bodies(direction)
        for code, response in responses.items():
            # Error bodies declared in views with `problem(...)` are served as problem details.
            content = response.get("content", {}) if code[:1] in ("4", "5") else {}
            if "application/json" in content and PROBLEM_CONTENT_TYPE not in content:
                content[PROBLEM_CONTENT_TYPE] = content.pop("application/json")
        wanted = ["413"] if self.method in ("POST", "PUT", "PATCH") else []
        if self.method in ("POST", "PUT", "PATCH", "DELETE") or self._has_query_parameters():
            wanted.insert(0, "400")
        if not self._is_public():
            wanted += ["401", "403"]
        paged = any(parameter.get("name") == "cursor" for parameter in self._get_parameters())
        if paged:
            wanted.append("404")
        for code in wanted:
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    PROBLEM_SERIALIZER, code, [PROBLEM_CONTENT_TYPE], direction
                )
                responses[code]["description"] = _STANDARD_ERRORS[code]
        if paged and "invalid_cursor" not in responses["404"]["description"]:
            # A view's own 404 (an unknown id) is not the only one: a forged cursor is too.
            responses["404"]["description"] += " Or " + _STANDARD_ERRORS["404"]
        return responses

    def _has_query_parameters(self) -> bool:
        return any(parameter.get("in") == "query" for parameter in self._get_parameters())

    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> Any:
        mapped = super()._map_serializer_field(field, direction, bypass_extensions)
        if direction == "request" and isinstance(field, serializers.CharField):
            mapped.update(text_pattern(field, mapped))
        if direction == "request" and isinstance(field, serializers.ListField):
            mapped.update({} if field.allow_empty else {"minItems": 1})
        return mapped

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)
        drop_redundant_blank(schema)

    def _get_request_body(self, direction: Any = "request") -> Any:
        # drf-spectacular documents a body on PUT, PATCH and POST only; a view that reads one
        # on DELETE or GET too (`body_also_on`: the TOTP code, the RPC facade) documents it.
        method = self.method
        if method in getattr(self.view, "body_also_on", ()):
            self.method = "POST"
        try:
            body = super()._get_request_body(direction)
        finally:
            self.method = method
        if body and getattr(self.get_request_serializer(), "schema_constraints", None):
            body["required"] = True  # its rule needs at least one field: an empty body breaks it
        return body

    def _map_serializer(
        self, serializer: Any, direction: Any, bypass_extensions: bool = False
    ) -> Any:
        mapped = super()._map_serializer(serializer, direction, bypass_extensions)
        if direction == "request" and isinstance(serializer, StrictSerializer):
            mapped["additionalProperties"] = False  # unknown fields are a 400
        if direction == "request":
            # A rule across fields that its `validate` enforces, stated for the schema too.
            mapped.update(getattr(serializer, "schema_constraints", {}))
        return mapped
