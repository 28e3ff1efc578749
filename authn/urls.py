from django.urls import path

from authn import apis

urlpatterns = [
    path("auth/token", apis.TokenObtainApi.as_view(), name="token"),
    path("auth/token/refresh", apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/token/revoke", apis.TokenRevokeApi.as_view(), name="token-revoke"),
    path("auth/logout-all", apis.LogoutAllApi.as_view(), name="logout-all"),
]

# MFA and audit events (spec §4.5, §4.9)
from authn import apis_mfa  # noqa: E402

urlpatterns += [
    path("me/mfa", apis_mfa.MfaStatusApi.as_view(), name="me-mfa"),
    path("me/mfa/totp", apis_mfa.TotpApi.as_view(), name="me-mfa-totp"),
    path("me/mfa/totp/confirm", apis_mfa.TotpConfirmApi.as_view(), name="me-mfa-totp-confirm"),
    path("me/mfa/backup-codes", apis_mfa.BackupCodesApi.as_view(), name="me-mfa-backup-codes"),
]

# API keys (spec §4.4) and the API-key token exchange (§4.1).
from authn import api_key_apis  # noqa: E402

urlpatterns += [
    path("auth/token/exchange", api_key_apis.TokenExchangeApi.as_view(), name="token-exchange"),
    path("api-keys", api_key_apis.ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<str:key_id>", api_key_apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path(
        "api-keys/<str:key_id>/rotate",
        api_key_apis.ApiKeyRotateApi.as_view(),
        name="api-key-rotate",
    ),
]

# Gateway forward-auth (spec §4.6), on any method.
from authn import gateway  # noqa: E402

urlpatterns += [path("auth/verify", gateway.VerifyApi.as_view(), name="verify")]
