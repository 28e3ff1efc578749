"""The authentication API under /api/v1/: each capability package's own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("authn.sign_in.urls")),
    path("", include("authn.tokens.urls")),
    path("", include("authn.credentials.urls")),
    path("", include("authn.mfa.urls")),
    path("", include("authn.api_keys.urls")),
    path("", include("authn.gateway.urls")),
    path("", include("authn.identity_providers.urls")),
]
