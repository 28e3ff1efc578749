"""Token endpoint inputs and outputs."""

from __future__ import annotations

from rest_framework import serializers

from micro_platform.serializers import StrictSerializer


class TokenPairOut(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField()
    scope = serializers.CharField()


RESOURCE_HELP = (
    "A registered service's audience or name (RFC 8707): the access token is for that service"
    " (its `aud`, only its scopes and `profile`)."
)


class TokenRefreshIn(StrictSerializer):
    refresh_token = serializers.CharField(max_length=4096)
    resource = serializers.CharField(max_length=255, required=False, help_text=RESOURCE_HELP)


class JwkOut(serializers.Serializer):
    kty = serializers.CharField()
    kid = serializers.CharField()
    alg = serializers.CharField()
    use = serializers.CharField()
    n = serializers.CharField()
    e = serializers.CharField()


class JwksOut(serializers.Serializer):
    keys = JwkOut(many=True)
