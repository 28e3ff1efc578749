from django.urls import path

from accounts import apis, email_apis, role_apis

urlpatterns = [
    path("me", apis.MeApi.as_view(), name="me"),
    path("me/password", apis.MePasswordApi.as_view(), name="me-password"),
    path("signup", email_apis.SignupApi.as_view(), name="signup"),
    path("users", apis.UserListApi.as_view(), name="user-list"),
    path("users/<str:user_id>", apis.UserDetailApi.as_view(), name="user-detail"),
    path("users/<str:user_id>/roles", role_apis.UserRoleListApi.as_view(), name="user-roles"),
    path(
        "users/<str:user_id>/roles/<str:role_id>",
        role_apis.UserRoleDetailApi.as_view(),
        name="user-role-detail",
    ),
    path("groups", apis.GroupListApi.as_view(), name="group-list"),
    path("groups/<str:group_id>/roles", role_apis.GroupRoleListApi.as_view(), name="group-roles"),
    path(
        "groups/<str:group_id>/roles/<str:role_id>",
        role_apis.GroupRoleDetailApi.as_view(),
        name="group-role-detail",
    ),
    path("groups/<str:group_id>/members", apis.GroupMemberListApi.as_view(), name="group-members"),
    path(
        "groups/<str:group_id>/members/<str:user_id>",
        apis.GroupMemberDetailApi.as_view(),
        name="group-member-detail",
    ),
]
