"""The admin site behind our sign-in, and behind OTP for users who have a device."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect


class MicroAdminSite(admin.AdminSite):
    """Staff only; a user with a confirmed device must have passed OTP in this session, or
    signed in through an MFA-enforcing identity provider whose ID token proved MFA."""

    site_header = "Micro User Service"
    site_title = "Micro User Service"

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        # Imported here: this module loads with the app registry, before models are ready.
        from authn.mfa.services import user_has_mfa
        from authn.sessions.proof import FEDERATED, session_amr

        user = request.user
        if not user_has_mfa(user=user):  # type: ignore[arg-type]
            return True
        is_verified = getattr(user, "is_verified", None)
        if is_verified is not None and is_verified():
            return True
        # No device passed here (a code or a passkey would have verified the session): a
        # federated sign-in's `mfa` is then an MFA-enforcing provider's say-so.
        amr = session_amr(request.session)
        return FEDERATED in amr and "mfa" in amr

    def login(self, request: HttpRequest, extra_context: object = None) -> HttpResponse:
        # One sign-in for the whole site: the dashboard's (lockout, throttles, MFA apply).
        next_url = request.GET.get("next") or "/admin/"
        return HttpResponseRedirect("/accounts/login/?" + urlencode({"next": next_url}))


class MicroAdminConfig(AdminConfig):
    default_site = "authn.web.admin_site.MicroAdminSite"
