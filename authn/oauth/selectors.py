"""Reads of OAuth 2.0 clients for the admin console: every client, whoever owns it."""

from __future__ import annotations

from django.db.models import QuerySet
from oauth2_provider.models import Application


def oauth_clients_all() -> QuerySet[Application]:
    """Every registered client with its owner, by name."""
    return Application.objects.select_related("user").order_by("name", "id")


def oauth_client_get(*, application_id: int) -> Application | None:
    return Application.objects.select_related("user").filter(pk=application_id).first()


def oauth_clients_of(*, owner_id: object) -> list[Application]:
    return list(Application.objects.filter(user_id=owner_id).order_by("name", "id"))
