"""Dashboard URLs: sign-in under /accounts/, pages under /dashboard/, the admin console under
/dashboard/admin/."""

from django.urls import path
from django.views.i18n import JavaScriptCatalog

from authn.web import application_views, auth_views, passkey_views, security_views, views
from authn.web.console.urls import urlpatterns as console_urlpatterns

app_name = "dashboard"

urlpatterns = [
    path("accounts/login/", auth_views.login_view, name="login"),
    path("accounts/login/otp/", auth_views.login_otp_view, name="login-otp"),
    path("accounts/logout/", auth_views.logout_view, name="logout"),
    path(
        "accounts/passkeys/login/begin/",
        passkey_views.LoginBeginView.as_view(),
        name="passkey-login-begin",
    ),
    path(
        "accounts/passkeys/login/complete/",
        passkey_views.LoginCompleteView.as_view(),
        name="passkey-login-complete",
    ),
    path(
        "accounts/passkeys/verify/begin/",
        passkey_views.VerifyBeginView.as_view(),
        name="passkey-verify-begin",
    ),
    path(
        "accounts/passkeys/verify/complete/",
        passkey_views.VerifyCompleteView.as_view(),
        name="passkey-verify-complete",
    ),
    # The passkey script's messages (its `gettext`), loaded as a file under the CSP.
    path(
        "accounts/passkeys/jsi18n/",
        JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
        name="passkey-jsi18n",
    ),
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
        "dashboard/security/passkeys/register/begin/",
        passkey_views.RegisterBeginView.as_view(),
        name="passkey-register-begin",
    ),
    path(
        "dashboard/security/passkeys/register/complete/",
        passkey_views.RegisterCompleteView.as_view(),
        name="passkey-register-complete",
    ),
    path(
        "dashboard/security/passkeys/<int:passkey_id>/rename/",
        security_views.passkey_rename_view,
        name="passkey-rename",
    ),
    path(
        "dashboard/security/passkeys/<int:passkey_id>/remove/",
        security_views.passkey_remove_view,
        name="passkey-remove",
    ),
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
