from django.urls import path

from permissions import apis

urlpatterns = [
    path("access", apis.GrantListApi.as_view(), name="access-list"),
    path("access/check", apis.AccessCheckApi.as_view(), name="access-check"),
    path("access/<str:grant_id>", apis.GrantDetailApi.as_view(), name="access-detail"),
]
