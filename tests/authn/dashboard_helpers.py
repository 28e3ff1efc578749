"""Helpers for the dashboard tests: signing in through the real forms, TOTP codes."""

from __future__ import annotations

import time

from django.conf import settings
from django.test import Client
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import User
from authn.mfa import services as mfa
from tests.factories import DEFAULT_PASSWORD

LOGIN_URL = "/accounts/login/"
OTP_URL = "/accounts/login/otp/"
LOGOUT_URL = "/accounts/logout/"
PROFILE_URL = "/dashboard/"
API_KEYS_URL = "/dashboard/api-keys/"
SECURITY_URL = "/dashboard/security/"


def totp_code(device: TOTPDevice, *, offset_seconds: int = 0) -> str:
    """The device's code at now + offset (the next step's code is within the tolerance)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset_seconds
    return f"{totp.token():0{device.digits}d}"


def enrol_totp(user: User) -> tuple[TOTPDevice, list[str]]:
    """A confirmed TOTP device and its backup codes, through the MFA services."""
    mfa.totp_begin(user=user, actor=None)
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    codes = mfa.totp_confirm(user=user, otp=totp_code(device), actor=None)
    device.refresh_from_db()
    return device, codes


def sign_in(client: Client, user: User, password: str = DEFAULT_PASSWORD) -> None:
    """Signs in through the login form (and the OTP step when the user has a device)."""
    response = client.post(LOGIN_URL, {"username": user.username, "password": password})
    assert response.status_code == 302, response.content
    if response["Location"] == OTP_URL:
        device = TOTPDevice.objects.get(user=user, confirmed=True)
        response = client.post(OTP_URL, {"otp_token": totp_code(device, offset_seconds=30)})
        assert response.status_code == 302, response.content
    assert response["Location"] == PROFILE_URL


def session_cookie(client: Client) -> str:
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def csrf_client() -> Client:
    """A client that enforces CSRF like a browser, holding a CSRF cookie and token."""
    client = Client(enforce_csrf_checks=True)
    client.get(LOGIN_URL)
    return client


def csrf_token(client: Client) -> str:
    return client.cookies[settings.CSRF_COOKIE_NAME].value
