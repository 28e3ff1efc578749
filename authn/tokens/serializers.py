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


class TokenRefreshIn(StrictSerializer):
    refresh_token = serializers.CharField(max_length=4096)


class JwkOut(serializers.Serializer):
    kty = serializers.CharField()
    kid = serializers.CharField()
    alg = serializers.CharField()
    use = serializers.CharField()
    n = serializers.CharField()
    e = serializers.CharField()


class JwksOut(serializers.Serializer):
    keys = JwkOut(many=True)
