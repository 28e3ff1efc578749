"""Input and output of the objects API: `owner_id` only, never user details."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers

from micro_platform.serializers import StrictSerializer

NAME_MAX = 200
MAX_DEPTH = 32


def validate_json_value(value: Any, depth: int = 0) -> None:
    """PostgreSQL's jsonb refuses NUL in strings; deep nesting costs stack: both are a 400."""
    if depth > MAX_DEPTH:
        raise serializers.ValidationError(f"Nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, str) and "\x00" in value:
        raise serializers.ValidationError("Strings may not contain NUL characters.")
    if isinstance(value, dict):
        for key, item in value.items():
            validate_json_value(key, depth + 1)
            validate_json_value(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            validate_json_value(item, depth + 1)


class ObjectValueField(serializers.JSONField):
    def to_internal_value(self, data: Any) -> Any:
        validate_json_value(data)
        return super().to_internal_value(data)


class ObjectCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=NAME_MAX)
    value = ObjectValueField(allow_null=True, required=False, default=None)


class ObjectUpdateIn(StrictSerializer):
    name = serializers.CharField(max_length=NAME_MAX, required=False)
    value = ObjectValueField(allow_null=True, required=False)
    version = serializers.IntegerField(min_value=1, max_value=2**31 - 1, required=False)

    schema_constraints: ClassVar[dict[str, Any]] = {
        "anyOf": [{"required": ["name"]}, {"required": ["value"]}]
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if "name" not in attrs and "value" not in attrs:
            raise serializers.ValidationError("Give `name`, `value` or both.", code="no_change")
        return attrs


class ObjectOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    value = serializers.JSONField(allow_null=True)
    owner_id = serializers.UUIDField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
