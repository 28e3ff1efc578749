"""API-key and token-exchange inputs and outputs (docs/api-keys.md)."""

from __future__ import annotations

from rest_framework import serializers

from authn.api_keys.services import (
    DEFAULT_EXPIRY_DAYS,
    MAX_EXPIRY_DAYS,
    MAX_GRACE_HOURS,
    MAX_SCOPES,
)
from authn.tokens.serializers import RESOURCE_HELP
from micro_platform.serializers import StrictSerializer, scope_name_field


class ApiKeyCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=100)
    scopes = serializers.ListField(
        child=scope_name_field(), allow_empty=False, max_length=MAX_SCOPES
    )
    expires_in_days = serializers.IntegerField(
        min_value=1, max_value=MAX_EXPIRY_DAYS, default=DEFAULT_EXPIRY_DAYS
    )
    resource = serializers.CharField(
        max_length=255,
        required=False,
        allow_null=True,
        help_text="Binds the key to one registered service (its audience or name): the key"
        " then holds only that service's scopes (and `profile`) and is a credential for that"
        " service only.",
    )


class ApiKeyRotateIn(StrictSerializer):
    grace_hours = serializers.IntegerField(min_value=0, max_value=MAX_GRACE_HOURS)


class ApiKeyOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    prefix = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    resource = serializers.CharField(
        allow_null=True, help_text="The service the key is bound to (its name), or null."
    )


class MintedKeyOut(serializers.Serializer):
    """The one response that carries the key itself."""

    id = serializers.UUIDField(source="api_key.id")
    name = serializers.CharField(source="api_key.name")
    prefix = serializers.CharField(source="api_key.prefix")
    key = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField(), source="api_key.scopes")
    created_at = serializers.DateTimeField(source="api_key.created_at")
    expires_at = serializers.DateTimeField(source="api_key.expires_at")
    resource = serializers.CharField(
        source="api_key.resource",
        allow_null=True,
        help_text="The service the key is bound to (its name), or null.",
    )


class TokenExchangeIn(StrictSerializer):
    resource = serializers.CharField(max_length=255, required=False, help_text=RESOURCE_HELP)


class ExchangedTokenOut(serializers.Serializer):
    access_token = serializers.CharField()
    token_type = serializers.CharField()
    expires_in = serializers.IntegerField()
    scope = serializers.CharField()
