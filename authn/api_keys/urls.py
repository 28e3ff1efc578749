from django.urls import path

from authn.api_keys import apis

urlpatterns = [
    # An API key exchanged for a short-lived access token.
    path("auth/token/exchange", apis.TokenExchangeApi.as_view(), name="token-exchange"),
    path("api-keys", apis.ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<str:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("api-keys/<str:key_id>/rotate", apis.ApiKeyRotateApi.as_view(), name="api-key-rotate"),
]
