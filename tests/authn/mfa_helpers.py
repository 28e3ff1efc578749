"""Helpers for MFA tests: enrolment through the services and TOTP codes computed from the seed."""

from __future__ import annotations

import time

from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from authn.mfa import services as mfa

MFA_URL = "/api/v1/me/mfa"
TOTP_URL = "/api/v1/me/mfa/totp"
CONFIRM_URL = "/api/v1/me/mfa/totp/confirm"
BACKUP_CODES_URL = "/api/v1/me/mfa/backup-codes"


def code_at(device: TOTPDevice, seconds_from_now: float = 0) -> str:
    """The device's code for the time step `seconds_from_now` away (the authenticator app's)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + seconds_from_now
    return f"{totp.token():0{device.digits}d}"


def fresh_code(device: TOTPDevice) -> str:
    """A code not used yet: the current step's, or the next one's (within tolerance)."""
    device.refresh_from_db()
    now_t = int(time.time() - device.t0) // device.step
    if device.last_t < now_t:
        return code_at(device)
    assert device.last_t == now_t, "the next step's code was already used"
    return code_at(device, device.step)


def enrol(user: User) -> tuple[TOTPDevice, list[str]]:
    """Enrols a TOTP device for `user` through the services; returns it and the backup codes."""
    mfa.totp_begin(user=user, actor=None)
    device = TOTPDevice.objects.get(user=user)
    codes = mfa.totp_confirm(user=user, otp=code_at(device), actor=None)
    device.refresh_from_db()
    return device, codes


def forget_used_codes(device: TOTPDevice) -> None:
    """Lets a test use the current step's code again (as a new time step would)."""
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=-1)
    device.refresh_from_db()
