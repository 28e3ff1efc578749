from django.urls import path

from authn.credentials import apis

urlpatterns = [
    path("auth/token/revoke", apis.TokenRevokeApi.as_view(), name="token-revoke"),
    path("auth/logout-all", apis.LogoutAllApi.as_view(), name="logout-all"),
]
