"""django-oauth-toolkit's endpoints under /o/, in its namespace, with the service's variants.

The toolkit's application-management pages are not mounted: users manage the clients they
registered in the dashboard (authn.web), administrators in the admin site.
"""

from django.urls import path, re_path
from oauth2_provider import views as dot_views

from authn.oauth import device, views
from authn.tokens.apis import JwksApi

app_name = "oauth2_provider"

urlpatterns = [
    path("authorize/", views.AuthorizationView.as_view(), name="authorize"),
    path("token/", views.TokenView.as_view(), name="token"),
    path("revoke_token/", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", views.IntrospectView.as_view(), name="introspect"),
    path(
        "device-authorization/",
        views.DeviceAuthorizationView.as_view(),
        name="device-authorization",
    ),
    # The user code is in no path: after entry the session names the grant (authn.oauth.device).
    path("device/", device.DeviceCodeView.as_view(), name="device"),
    path("device-confirm/", device.DeviceConfirmView.as_view(), name="device-confirm"),
    path(
        "device-grant-status/",
        device.DeviceGrantStatusView.as_view(),
        name="device-grant-status",
    ),
    re_path(
        r"^\.well-known/openid-configuration/?$",
        views.DiscoveryView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(".well-known/jwks.json", JwksApi.as_view(), name="jwks-info"),
    path("userinfo/", views.UserInfoView.as_view(), name="user-info"),
    path("logout/", views.LogoutView.as_view(), name="rp-initiated-logout"),
]
