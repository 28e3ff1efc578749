"""Admin views of credential state: read-only, and never showing a secret or its hash."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from authn.models import AuditEvent, SigningKey, TokenFamily


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(SigningKey)
class SigningKeyAdmin(ReadOnlyAdmin):
    list_display = ("kid", "status", "created_at", "retired_at", "publish_until")
    fields = (
        "kid",
        "algorithm",
        "status",
        "public_jwk",
        "created_at",
        "retired_at",
        "publish_until",
    )


@admin.register(TokenFamily)
class TokenFamilyAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "scope", "created_at", "expires_at", "revoked_at")
    list_filter = ("revoke_reason",)
    search_fields = ("user__username",)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "type", "actor_id", "subject_type", "subject_id", "ip_address")
    list_filter = ("type",)
    search_fields = ("subject_id", "actor_id")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
