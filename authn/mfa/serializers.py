"""MFA API inputs and outputs."""

from __future__ import annotations

from rest_framework import serializers

from micro_platform.serializers import StrictSerializer


class OtpIn(StrictSerializer):
    otp = serializers.CharField(max_length=64)


class TotpEnrolmentOut(serializers.Serializer):
    device_id = serializers.IntegerField()
    secret = serializers.CharField(help_text="The TOTP seed, base32 (shown once).")
    otpauth_uri = serializers.CharField()
    qr_svg = serializers.CharField(help_text="The otpauth URI as a QR code, SVG markup.")


class BackupCodesOut(serializers.Serializer):
    backup_codes = serializers.ListField(child=serializers.CharField())


class MfaStatusOut(serializers.Serializer):
    totp = serializers.BooleanField(help_text="A confirmed TOTP device is enrolled.")
    backup_codes_remaining = serializers.IntegerField()
