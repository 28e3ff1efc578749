"""The token endpoint's sign-in input."""

from __future__ import annotations

from rest_framework import serializers

from authn.tokens.serializers import RESOURCE_HELP
from micro_platform.serializers import StrictSerializer


class TokenObtainIn(StrictSerializer):
    username = serializers.CharField(max_length=254, trim_whitespace=False)
    password = serializers.CharField(max_length=256, trim_whitespace=False)
    otp = serializers.CharField(max_length=64, required=False)
    scope = serializers.CharField(max_length=500, required=False, allow_blank=True)
    resource = serializers.CharField(max_length=255, required=False, help_text=RESOURCE_HELP)
