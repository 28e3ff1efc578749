from django.urls import path

from objects import apis

urlpatterns = [
    path("objects", apis.ObjectListApi.as_view(), name="object-list"),
    path("objects/<str:object_id>", apis.ObjectDetailApi.as_view(), name="object-detail"),
]
