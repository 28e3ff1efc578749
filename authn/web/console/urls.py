"""Admin console URLs, under /dashboard/admin/ (names start with `console-`)."""

from django.urls import path

from authn.web.console import registry_views

urlpatterns = [
    path("dashboard/admin/services/", registry_views.services_view, name="console-services"),
    path(
        "dashboard/admin/services/<uuid:service_id>/",
        registry_views.service_view,
        name="console-service",
    ),
    path(
        "dashboard/admin/services/<uuid:service_id>/delete",
        registry_views.service_delete_view,
        name="console-service-delete",
    ),
    path(
        "dashboard/admin/services/<uuid:service_id>/scopes/<str:name>/delete",
        registry_views.scope_delete_view,
        name="console-scope-delete",
    ),
    path("dashboard/admin/roles/", registry_views.roles_view, name="console-roles"),
    path("dashboard/admin/roles/<uuid:role_id>/", registry_views.role_view, name="console-role"),
    path(
        "dashboard/admin/roles/<uuid:role_id>/delete",
        registry_views.role_delete_view,
        name="console-role-delete",
    ),
]
