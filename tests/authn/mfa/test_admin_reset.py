"""MFA in the Django admin: no device pages (seeds, unaudited edits); recovery by an audited
action that removes every device and ends every sign-in."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.test import Client
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from audit.models import AuditEvent
from tests.authn.helpers import TOKEN_URL, refresh
from tests.authn.mfa_helpers import enrol, fresh_code


def test_otp_devices_are_not_in_the_admin():
    assert not admin.site.is_registered(TOTPDevice)
    assert not admin.site.is_registered(StaticDevice)
    assert settings.OTP_ADMIN_HIDE_SENSITIVE_DATA is True


def test_device_admin_urls_do_not_exist(admin_user):
    browser = Client()
    browser.force_login(admin_user)
    assert browser.get("/admin/otp_totp/totpdevice/", secure=True).status_code == 404


def test_admin_reset_removes_every_device_ends_sign_ins_and_is_audited(user, password, admin_user):
    device, _ = enrol(user)
    pair = (
        APIClient()
        .post(
            TOKEN_URL, {"username": user.username, "password": password, "otp": fresh_code(device)}
        )
        .json()
    )
    browser = Client()
    browser.force_login(admin_user)
    response = browser.post(
        "/admin/accounts/user/",
        {"action": "reset_mfa", "_selected_action": [str(user.pk)]},
        secure=True,
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    assert refresh(pair["refresh_token"]).status_code == 401
    removed = AuditEvent.objects.get(type="mfa.removed")
    assert removed.actor_id == admin_user.pk and removed.data["via"] == "admin"
    # The password alone signs in now; the user enrols again.
    again = APIClient().post(TOKEN_URL, {"username": user.username, "password": password})
    assert again.status_code == 200


def test_a_non_staff_user_cannot_run_the_reset(user, other_user):
    enrol(user)
    browser = Client()
    browser.force_login(other_user)
    browser.post(
        "/admin/accounts/user/",
        {"action": "reset_mfa", "_selected_action": [str(user.pk)]},
        secure=True,
    )
    assert TOTPDevice.objects.filter(user=user, confirmed=True).exists()
