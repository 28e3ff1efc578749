"""Inputs of the revoke and logout-all endpoints."""

from __future__ import annotations

from rest_framework import serializers

from micro_platform.serializers import StrictSerializer


class TokenRevokeIn(StrictSerializer):
    token = serializers.CharField(max_length=16384)


class LogoutAllIn(StrictSerializer):
    """Optional body of logout-all; no body ends sign-ins only."""

    api_keys = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also revoke every API key of the user (and tokens exchanged for them).",
    )
