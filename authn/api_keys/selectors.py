"""Reads of credential state; every list filtered in the query."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from authn.models import ApiKey
from micro_platform.ids import parse_uuid


def api_keys_of(*, owner_id: uuid.UUID) -> QuerySet[ApiKey]:
    """The owner's API keys, newest first (revoked and expired ones included)."""
    return ApiKey.objects.filter(owner_id=owner_id).order_by("-created_at", "-id")


def api_key_get_owned(*, key_id: object, owner_id: uuid.UUID) -> ApiKey:
    """The key when `owner_id` owns it; raises ApiKey.DoesNotExist otherwise (also for a
    malformed id), so another user's key is indistinguishable from a missing one."""
    parsed = parse_uuid(key_id)
    if parsed is None:
        raise ApiKey.DoesNotExist("No such API key.")
    return ApiKey.objects.get(pk=parsed, owner_id=owner_id)


def api_key_get(*, key_id: object) -> ApiKey:
    """Any user's key (for `api_admin`); raises ApiKey.DoesNotExist when missing or malformed."""
    parsed = parse_uuid(key_id)
    if parsed is None:
        raise ApiKey.DoesNotExist("No such API key.")
    return ApiKey.objects.get(pk=parsed)
