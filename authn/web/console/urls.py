"""Admin console URLs, under /dashboard/admin/ (names start with `console-`)."""

from django.urls import path

from authn.web.console import (
    audit_views,
    group_views,
    identity_provider_views,
    registry_views,
    service_account_views,
    user_views,
)

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
    path("dashboard/admin/groups/", group_views.groups_view, name="console-groups"),
    path("dashboard/admin/groups/<uuid:group_id>/", group_views.group_view, name="console-group"),
    path(
        "dashboard/admin/groups/<uuid:group_id>/scopes",
        group_views.group_scopes_view,
        name="console-group-scopes",
    ),
    path(
        "dashboard/admin/groups/<uuid:group_id>/members",
        group_views.group_member_add_view,
        name="console-group-member-add",
    ),
    path(
        "dashboard/admin/groups/<uuid:group_id>/members/<uuid:user_id>/remove",
        group_views.group_member_remove_view,
        name="console-group-member-remove",
    ),
    path(
        "dashboard/admin/groups/<uuid:group_id>/roles",
        group_views.group_role_give_view,
        name="console-group-role-give",
    ),
    path(
        "dashboard/admin/groups/<uuid:group_id>/roles/<uuid:role_id>/take",
        group_views.group_role_take_view,
        name="console-group-role-take",
    ),
    path("dashboard/admin/", user_views.users_view, name="console-home"),
    path("dashboard/admin/users/", user_views.users_view, name="console-users"),
    path("dashboard/admin/users/<uuid:user_id>/", user_views.user_view, name="console-user"),
    path(
        "dashboard/admin/users/<uuid:user_id>/deactivate",
        user_views.user_deactivate_view,
        name="console-user-deactivate",
    ),
    path(
        "dashboard/admin/users/<uuid:user_id>/reactivate",
        user_views.user_reactivate_view,
        name="console-user-reactivate",
    ),
    path(
        "dashboard/admin/users/<uuid:user_id>/unlock",
        user_views.user_unlock_view,
        name="console-user-unlock",
    ),
    path(
        "dashboard/admin/users/<uuid:user_id>/roles",
        user_views.user_role_give_view,
        name="console-user-role-give",
    ),
    path(
        "dashboard/admin/users/<uuid:user_id>/roles/<uuid:role_id>/take",
        user_views.user_role_take_view,
        name="console-user-role-take",
    ),
    path(
        "dashboard/admin/users/<uuid:user_id>/mfa-reset",
        user_views.user_mfa_reset_view,
        name="console-user-mfa-reset",
    ),
    path(
        "dashboard/admin/service-accounts/",
        service_account_views.service_accounts_view,
        name="console-service-accounts",
    ),
    path(
        "dashboard/admin/service-accounts/<uuid:user_id>/",
        service_account_views.service_account_view,
        name="console-service-account",
    ),
    path(
        "dashboard/admin/service-accounts/<uuid:user_id>/api-keys",
        service_account_views.service_account_key_view,
        name="console-service-account-key",
    ),
    path(
        "dashboard/admin/service-accounts/<uuid:user_id>/clients",
        service_account_views.service_account_client_view,
        name="console-service-account-client",
    ),
    path("dashboard/admin/clients/", service_account_views.clients_view, name="console-clients"),
    path(
        "dashboard/admin/clients/<int:application_id>/delete",
        service_account_views.client_delete_view,
        name="console-client-delete",
    ),
    path(
        "dashboard/admin/users/<uuid:user_id>/identities/<uuid:identity_id>/unlink",
        identity_provider_views.user_identity_unlink_view,
        name="console-user-identity-unlink",
    ),
    path(
        "dashboard/admin/identity-providers/",
        identity_provider_views.identity_providers_view,
        name="console-identity-providers",
    ),
    path(
        "dashboard/admin/identity-providers/<slug:slug>/",
        identity_provider_views.identity_provider_view,
        name="console-identity-provider",
    ),
    path(
        "dashboard/admin/identity-providers/<slug:slug>/delete",
        identity_provider_views.identity_provider_delete_view,
        name="console-identity-provider-delete",
    ),
    path("dashboard/admin/audit/", audit_views.audit_view, name="console-audit"),
]
