"""Dashboard URLs: sign-in under /accounts/, pages under /dashboard/, the admin console under
/dashboard/admin/."""

from django.urls import path

from authn.web import application_views, auth_views, security_views, views
from authn.web.console.urls import urlpatterns as console_urlpatterns

app_name = "dashboard"

urlpatterns = [
    path("accounts/login/", auth_views.login_view, name="login"),
    path("accounts/login/otp/", auth_views.login_otp_view, name="login-otp"),
    path("accounts/logout/", auth_views.logout_view, name="logout"),
    path("dashboard/", views.profile_view, name="profile"),
    path("dashboard/api-keys/", views.api_keys_view, name="api-keys"),
    path(
        "dashboard/api-keys/<uuid:key_id>/revoke",
        views.api_key_revoke_view,
        name="api-key-revoke",
    ),
    path(
        "dashboard/api-keys/<uuid:key_id>/rotate",
        views.api_key_rotate_view,
        name="api-key-rotate",
    ),
    path("dashboard/applications/", application_views.applications_view, name="applications"),
    path(
        "dashboard/applications/<int:application_id>/delete",
        application_views.application_delete_view,
        name="application-delete",
    ),
    path("dashboard/security/", security_views.security_view, name="security"),
    path("dashboard/security/totp", security_views.totp_begin_view, name="totp-begin"),
    path("dashboard/security/totp/confirm", security_views.totp_confirm_view, name="totp-confirm"),
    path("dashboard/security/totp/remove", security_views.totp_remove_view, name="totp-remove"),
    path("dashboard/security/backup-codes", security_views.backup_codes_view, name="backup-codes"),
    path("dashboard/security/password", security_views.password_change_view, name="password"),
    path(
        "dashboard/security/sign-out-everywhere",
        security_views.sign_out_everywhere_view,
        name="sign-out-everywhere",
    ),
    path(
        "dashboard/security/sessions/<uuid:session_id>/revoke",
        security_views.session_revoke_view,
        name="session-revoke",
    ),
    path(
        "dashboard/security/identities/<uuid:identity_id>/remove",
        security_views.identity_unlink_view,
        name="identity-unlink",
    ),
    *console_urlpatterns,
]
