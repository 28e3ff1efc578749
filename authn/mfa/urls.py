from django.urls import path

from authn.mfa import apis

urlpatterns = [
    path("me/mfa", apis.MfaStatusApi.as_view(), name="me-mfa"),
    path("me/mfa/totp", apis.TotpApi.as_view(), name="me-mfa-totp"),
    path("me/mfa/totp/confirm", apis.TotpConfirmApi.as_view(), name="me-mfa-totp-confirm"),
    path("me/mfa/backup-codes", apis.BackupCodesApi.as_view(), name="me-mfa-backup-codes"),
    path("me/mfa/passkeys/<int:passkey_id>", apis.PasskeyApi.as_view(), name="me-mfa-passkey"),
]
