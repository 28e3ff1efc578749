from django.urls import path

from permissions import apis, registry_apis

urlpatterns = [
    path("access", apis.GrantListApi.as_view(), name="access-list"),
    path("access/check", apis.AccessCheckApi.as_view(), name="access-check"),
    path("access/<str:grant_id>", apis.GrantDetailApi.as_view(), name="access-detail"),
    path("services", registry_apis.ServiceListApi.as_view(), name="service-list"),
    path(
        "services/<str:service_id>",
        registry_apis.ServiceDetailApi.as_view(),
        name="service-detail",
    ),
    path(
        "services/<str:service_id>/scopes",
        registry_apis.ServiceScopeListApi.as_view(),
        name="service-scopes",
    ),
    path(
        "services/<str:service_id>/scopes/<str:name>",
        registry_apis.ServiceScopeDetailApi.as_view(),
        name="service-scope-detail",
    ),
    path("scopes", registry_apis.ScopeListApi.as_view(), name="scope-list"),
    path("roles", registry_apis.RoleListApi.as_view(), name="role-list"),
    path("roles/<str:role_id>", registry_apis.RoleDetailApi.as_view(), name="role-detail"),
]
