from django.urls import path

from authn import apis

urlpatterns = [
    path("auth/token", apis.TokenObtainApi.as_view(), name="token"),
    path("auth/token/refresh", apis.TokenRefreshApi.as_view(), name="token-refresh"),
    path("auth/token/revoke", apis.TokenRevokeApi.as_view(), name="token-revoke"),
    path("auth/logout-all", apis.LogoutAllApi.as_view(), name="logout-all"),
]
