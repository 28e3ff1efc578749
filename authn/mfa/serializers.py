"""MFA API inputs and outputs."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from authn.mfa.passkeys import PASSKEY_NAME_MAX_LENGTH
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


class PasskeyOut(serializers.Serializer):
    """A passkey as its owner sees it: no key material, no credential id."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    backed_up = serializers.BooleanField(
        source="backup_state", help_text="Synced to a backup (a synced passkey), now."
    )
    backup_eligible = serializers.BooleanField(help_text="The authenticator may sync it.")
    passwordless = serializers.BooleanField(
        source="discoverable", help_text="Signs in without a password (a discoverable key)."
    )
    disabled = serializers.SerializerMethodField(
        help_text="Refused at sign-in (for one, its signature counter went backwards)."
    )

    def get_disabled(self, passkey: Any) -> bool:
        return not passkey.confirmed


class PasskeyUpdateIn(StrictSerializer):
    # A partial update: without `name`, nothing changes.
    name = serializers.CharField(max_length=PASSKEY_NAME_MAX_LENGTH, required=False)


class MfaStatusOut(serializers.Serializer):
    totp = serializers.BooleanField(help_text="A confirmed TOTP device is enrolled.")
    mfa = serializers.BooleanField(
        help_text="A second factor is enrolled: TOTP or an enabled passkey."
    )
    passkeys = PasskeyOut(many=True)
    backup_codes_remaining = serializers.IntegerField()
