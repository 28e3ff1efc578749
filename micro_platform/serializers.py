"""Serializer base classes shared by every app."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.validators import RegexValidator
from rest_framework import serializers

from micro_platform.scopes import ANY_SCOPE_NAME, ANY_SCOPE_NAME_PATTERN


class StrictSerializer(serializers.Serializer):
    """An input serializer that rejects fields it does not list: an unknown field is a 400."""

    # JSON Schema keywords (e.g. `anyOf`) its request schema adds for a rule across fields.
    schema_constraints: ClassVar[dict[str, Any]] = {}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: ["Unknown field."] for name in unknown}, code="unknown_field"
                )
            # DRF's CharField turns a JSON number into a string, and its UUIDField reads a
            # number (or `true`) as the UUID of that integer; the schema promises a string.
            not_text = sorted(
                name
                for name, field in self.fields.items()
                if isinstance(field, serializers.CharField | serializers.UUIDField)
                and name in data
                and data[name] is not None
                and not isinstance(data[name], str)
            )
            if not_text:
                raise serializers.ValidationError(
                    {name: ["Not a valid string."] for name in not_text}, code="invalid"
                )
        return super().to_internal_value(data)


def scope_name_field() -> serializers.CharField:
    """A scope name in a request: its form is checked (and stated in the schema); whether it
    is registered is the service's check."""
    message = f"A scope name matches {ANY_SCOPE_NAME_PATTERN}."
    return serializers.CharField(
        max_length=127, validators=[RegexValidator(ANY_SCOPE_NAME, message)]
    )
