from django.urls import path

from authn.identity_providers import apis

urlpatterns = [
    path(
        "identity-providers",
        apis.IdentityProviderListApi.as_view(),
        name="identity-provider-list",
    ),
    path(
        "identity-providers/<str:slug>",
        apis.IdentityProviderDetailApi.as_view(),
        name="identity-provider-detail",
    ),
]
