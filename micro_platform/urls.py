"""Root URLs: the landing page, the API under /api/v1/, the RPC facade, well-known documents,
docs, health."""

from csp.decorators import csp_update
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from authn.oauth.views import DiscoveryView
from authn.tokens.apis import JwksApi
from micro_platform import health, metrics
from micro_platform.home import home

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("authn.urls")),
    path("", include("audit.urls")),
    path("", include("permissions.urls")),
    path("", include("objects.urls")),
]

urlpatterns = [
    path("", home, name="home"),
    path("api/v1/", include(api_v1)),
    path("", include("rpc.urls")),
    path(".well-known/jwks.json", JwksApi.as_view(), name="jwks"),
    path(".well-known/openid-configuration", DiscoveryView.as_view(), name="openid-configuration"),
    path("o/", include("authn.oauth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view loads its start-up script from a URL: no inline script, so the CSP holds;
    # Swagger UI sets inline styles from its own script, allowed on this page only.
    path(
        "api/docs/",
        csp_update({"style-src": ["'unsafe-inline'"]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema")
        ),
        name="docs",
    ),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("", include("authn.web.urls")),
    path("accounts/", include("accounts.web_urls")),
    path("accounts/", include("authn.federation.urls")),
]

handler404 = "micro_platform.errors.handler404"
handler500 = "micro_platform.errors.handler500"
