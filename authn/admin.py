"""Admin views of credential state: read-only, and never showing a secret or its hash."""

from __future__ import annotations

from importlib import import_module
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice
from oauth2_provider.forms import ApplicationForm
from oauth2_provider.models import get_application_admin_class, get_application_model

from accounts.principals import principal_for_user
from authn.api_keys.services import api_key_revoke
from authn.models import ApiKey, SigningKey, TokenFamily
from authn.oauth.redirect_uris import URI_FIELDS, redirect_uris_problems

# django-otp registers its devices in the admin, where a superuser could read a TOTP seed or
# add, edit and delete devices with no code and no audit event. MFA changes go through
# authn.mfa.services instead (the user admin's "Reset two-factor authentication" action for
# account recovery). Importing the plugins' admin modules first makes the order certain.
for _device_admin in ("django_otp.plugins.otp_totp.admin", "django_otp.plugins.otp_static.admin"):
    import_module(_device_admin)
for _device in (TOTPDevice, StaticDevice):
    if admin.site.is_registered(_device):
        admin.site.unregister(_device)


class ApplicationAdminForm(ApplicationForm):
    """The toolkit's client form, refusing redirect URIs the service's rule refuses (https, or
    http to a loopback IP address), each message next to its field."""

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        for field in URI_FIELDS:
            if field in self.fields:
                for problem in redirect_uris_problems(cleaned.get(field) or ""):
                    self.add_error(field, problem)
        return cleaned


# The toolkit registers its own admin for clients; ours is the same with the form above.
import_module("oauth2_provider.admin")
_Application = get_application_model()
if admin.site.is_registered(_Application):
    admin.site.unregister(_Application)


@admin.register(_Application)
class ApplicationAdmin(get_application_admin_class()):  # type: ignore[misc]
    form = ApplicationAdminForm


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


@admin.register(ApiKey)
class ApiKeyAdmin(ReadOnlyAdmin):
    """Keys are listed, never shown (no secret hash) and revoked only through the service."""

    list_display = (
        "prefix",
        "name",
        "owner",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "owner__username")
    fields = (
        "id",
        "prefix",
        "name",
        "owner",
        "scopes",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
        "rotated_from",
    )
    actions = ["revoke"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting would skip the audit event and the cache invalidation

    @admin.action(description="Revoke the selected API keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        actor = principal_for_user(request.user, method="session")  # type: ignore[arg-type]
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=actor)
        self.message_user(request, f"Revoked {len(queryset)} API key(s).")
