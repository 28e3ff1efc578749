"""Input and output of the grants API (docs/objects.md)."""

from __future__ import annotations

from rest_framework import serializers

from micro_platform.serializers import StrictSerializer
from permissions.models import Grant
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
    subject_id = serializers.UUIDField(required=False)
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
