"""Token endpoint inputs and outputs."""

from __future__ import annotations

from rest_framework import serializers

from micro_platform.serializers import StrictSerializer


class TokenObtainIn(StrictSerializer):
    username = serializers.CharField(max_length=254, trim_whitespace=False)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    otp = serializers.CharField(max_length=64, required=False)
    scope = serializers.CharField(max_length=500, required=False, allow_blank=True)


class TokenPairOut(serializers.Serializer):
    access_token = serializers.CharField()
    refresh_token = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField()
    scope = serializers.CharField()


class TokenRefreshIn(StrictSerializer):
    refresh_token = serializers.CharField(max_length=4096)


class TokenRevokeIn(StrictSerializer):
    token = serializers.CharField(max_length=16384)


class LogoutAllIn(StrictSerializer):
    """Optional body of logout-all; no body ends sign-ins only."""

    api_keys = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also revoke every API key of the user (and tokens exchanged for them).",
    )


class JwkOut(serializers.Serializer):
    kty = serializers.CharField()
    kid = serializers.CharField()
    alg = serializers.CharField()
    use = serializers.CharField()
    n = serializers.CharField()
    e = serializers.CharField()


class JwksOut(serializers.Serializer):
    keys = JwkOut(many=True)
