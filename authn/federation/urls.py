"""Federated sign-in pages, included under /accounts/ (namespace "federation")."""

from django.urls import path

from authn.federation import views

app_name = "federation"

urlpatterns = [
    path("federation/link/", views.link_view, name="link"),
    path("federation/<slug:slug>/start/", views.start_view, name="start"),
    path("federation/<slug:slug>/callback/", views.callback_view, name="callback"),
]
