"""Input and output of the grants API (docs/objects.md)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.validators import RegexValidator
from rest_framework import serializers

from micro_platform import scopes as sc
from micro_platform.openapi import TRIMMED_WHITESPACE
from micro_platform.serializers import StrictSerializer, scope_name_field
from permissions.models import Grant
from permissions.registry import AUDIENCE_MAX_LENGTH
from permissions.roles import ROLE_NAME, ROLE_NAME_PATTERN
from permissions.selectors import PERMISSIONS

OBJECT_TYPE_MAX = 64
OBJECT_ID_MAX = 255


class GrantIn(StrictSerializer):
    object_type = serializers.CharField(max_length=OBJECT_TYPE_MAX)
    object_id = serializers.CharField(max_length=OBJECT_ID_MAX, trim_whitespace=False)
    subject_type = serializers.ChoiceField(choices=Grant.SubjectType.choices)
    subject_id = serializers.UUIDField()
    read = serializers.BooleanField(default=False)
    write = serializers.BooleanField(default=False)
    admin = serializers.BooleanField(default=False)

    schema_constraints: ClassVar[dict[str, Any]] = {
        "anyOf": [
            {"required": [name], "properties": {name: {"not": {"enum": [False]}}}}
            for name in ("read", "write", "admin")
        ]
    }

    def validate(self, attrs: dict[str, object]) -> dict[str, object]:
        if not (attrs["read"] or attrs["write"] or attrs["admin"]):
            raise serializers.ValidationError(
                "A grant needs read, write or admin; revoke it with DELETE instead.",
                code="empty_grant",
            )
        return attrs


class GrantFilterIn(StrictSerializer):
    object_type = serializers.CharField(max_length=OBJECT_TYPE_MAX, required=False)
    object_id = serializers.CharField(
        max_length=OBJECT_ID_MAX, required=False, trim_whitespace=False
    )
    subject_type = serializers.ChoiceField(choices=Grant.SubjectType.choices, required=False)
    subject_id = serializers.UUIDField(required=False, help_text="A user or group id.")
    cursor = serializers.CharField(required=False)
    page_size = serializers.CharField(required=False)


class GrantOut(serializers.Serializer):
    id = serializers.UUIDField()
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    subject_type = serializers.CharField()
    subject_id = serializers.UUIDField()
    read = serializers.BooleanField()
    write = serializers.BooleanField()
    admin = serializers.BooleanField()
    granted_by = serializers.UUIDField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CheckIn(StrictSerializer):
    object_type = serializers.CharField(max_length=OBJECT_TYPE_MAX)
    object_id = serializers.CharField(max_length=OBJECT_ID_MAX, trim_whitespace=False)
    permission = serializers.ChoiceField(choices=PERMISSIONS)
    subject_id = serializers.UUIDField(required=False)


class CheckOut(serializers.Serializer):
    allowed = serializers.BooleanField()


# --- The scope registry and roles (services, scopes, roles) ----------------------------------


class NamedOnceIn(StrictSerializer):
    """A change to a named row: `name` is refused with its own message, names never change."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "name" in data:
            raise serializers.ValidationError(
                {"name": ["Names never change once created."]}, code="immutable"
            )
        return super().to_internal_value(data)


# An audience has no space or control character inside; whitespace around it is trimmed. The
# sets are spelled out (TRIMMED_WHITESPACE), so every regex dialect agrees.
AUDIENCE_PATTERN = (
    rf"^[{TRIMMED_WHITESPACE}]*[^\x00-\x1f{TRIMMED_WHITESPACE}]+[{TRIMMED_WHITESPACE}]*$"
)
AUDIENCE_MESSAGE = (
    f"Give an audience of 1-{AUDIENCE_MAX_LENGTH} characters without spaces (the service's name"
    " or its URL)."
)


def audience_field(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(
        max_length=AUDIENCE_MAX_LENGTH,
        validators=[RegexValidator(AUDIENCE_PATTERN, AUDIENCE_MESSAGE)],
        **kwargs,
    )


class ServiceIn(StrictSerializer):
    # No max_length: the pattern bounds it (the registry checks it again).
    name = serializers.CharField(
        trim_whitespace=False,
        validators=[
            RegexValidator(sc.SERVICE_NAME, f"A service name matches {sc.SERVICE_NAME_PATTERN}.")
        ],
    )
    audience = audience_field(required=False, help_text="Defaults to the name.")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ServiceUpdateIn(NamedOnceIn):
    audience = audience_field(required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class ScopeIn(StrictSerializer):
    name = serializers.CharField(trim_whitespace=False)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class ScopeUpdateIn(NamedOnceIn):
    description = serializers.CharField(allow_blank=True)


class ScopeBriefOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()


class ServiceOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    audience = serializers.CharField()
    description = serializers.CharField()
    built_in = serializers.BooleanField()
    scopes = ScopeBriefOut(many=True, source="scopes.all")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ScopeOut(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    service = serializers.CharField(source="service.name")
    service_id = serializers.UUIDField()
    created_at = serializers.DateTimeField()


class ScopeFilterIn(StrictSerializer):
    service = serializers.CharField(
        required=False, help_text="Only this service's scopes (its name)."
    )
    cursor = serializers.CharField(required=False)
    page_size = serializers.CharField(required=False)


class PageIn(StrictSerializer):
    cursor = serializers.CharField(required=False)
    page_size = serializers.CharField(required=False)


class ForceIn(StrictSerializer):
    force = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Delete even when in use, taking the scopes from everyone holding them.",
    )


class RoleIn(StrictSerializer):
    name = serializers.CharField(
        trim_whitespace=False,
        validators=[RegexValidator(ROLE_NAME, f"A role name matches {ROLE_NAME_PATTERN}.")],
    )
    description = serializers.CharField(required=False, allow_blank=True, default="")
    scopes = serializers.ListField(child=scope_name_field())


class RoleUpdateIn(NamedOnceIn):
    description = serializers.CharField(required=False, allow_blank=True)
    scopes = serializers.ListField(child=scope_name_field(), required=False)


class RoleOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    description = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
