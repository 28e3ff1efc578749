from django.urls import path

from authn.tokens import apis

urlpatterns = [
    path("auth/token/refresh", apis.TokenRefreshApi.as_view(), name="token-refresh"),
]
