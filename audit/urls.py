from django.urls import path

from audit import apis

urlpatterns = [
    path("me/events", apis.MeEventListApi.as_view(), name="me-events"),
    path("audit-events", apis.AuditEventListApi.as_view(), name="audit-events"),
]
