"""Audit-event API inputs and outputs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from micro_platform.serializers import StrictSerializer


class AuditEventFilterIn(StrictSerializer):
    type = serializers.CharField(max_length=64, required=False)
    actor_id = serializers.UUIDField(required=False)
    since = serializers.DateTimeField(required=False)


class AuditEventOut(serializers.Serializer):
    id = serializers.UUIDField()
    type = serializers.CharField()
    actor_id = serializers.UUIDField(allow_null=True)
    subject_type = serializers.CharField()
    subject_id = serializers.CharField()
    ip_address = serializers.IPAddressField(allow_null=True)
    created_at = serializers.DateTimeField()

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # `data` is a Serializer attribute, so the field is added here, not declared.
        fields = super().get_fields()
        fields["data"] = serializers.DictField()
        return fields
