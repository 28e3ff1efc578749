"""Root URLs: the API under /api/v1/, the RPC facade, well-known documents, docs, health."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from accounts.rpc import UserRpcApi
from authn.apis import JwksApi
from micro_platform import health

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("authn.urls")),
]

urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("user/<str:method>", UserRpcApi.as_view(), name="user-rpc"),
    path(".well-known/jwks.json", JwksApi.as_view(), name="jwks"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
]

handler404 = "micro_platform.errors.handler404"
handler500 = "micro_platform.errors.handler500"
