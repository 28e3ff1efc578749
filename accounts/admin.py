"""Admin for users, groups and memberships."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, UserCreationForm
from django.contrib.auth.models import Group as AuthGroup
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import Group, Membership, User
from accounts.ports import credentials
from accounts.principals import principal_for_user
from audit.services import audit_record

# Groups and their scopes are accounts.Group; django.contrib.auth's Group (Django permissions)
# is unused, since the User model has no groups or permissions: its admin entry would only be
# a second, empty "Groups".
if admin.site.is_registered(AuthGroup):
    admin.site.unregister(AuthGroup)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


class UserCreateForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("username", "email", "kind")


class UserChangeForm(forms.ModelForm):
    avatar_url = forms.URLField(required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = User
        fields = (
            "username",
            "password",
            "display_name",
            "email",
            "email_verified",
            "avatar_url",
            "kind",
            "is_active",
            "is_staff",
            "is_superuser",
            "scopes",
        )


class AuditedPasswordChangeForm(AdminPasswordChangeForm):
    """An admin-set password ends the user's sign-ins and is audited, like the API's."""

    def save(self, commit: bool = True) -> Any:
        with transaction.atomic():
            user = super().save(commit)
            if commit:
                credentials().user_credentials_revoke(user=user)
                audit_record(
                    type="password.changed",
                    actor=None,
                    subject_type="user",
                    subject_id=user.pk,
                    data={"via": "admin"},
                )
        return user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreateForm
    change_password_form = AuditedPasswordChangeForm
    list_display = ("username", "email", "kind", "is_active", "is_superuser", "created_at")
    list_filter = ("kind", "is_active", "is_staff", "is_superuser", "email_verified")
    search_fields = ("username", "email", "display_name")
    ordering = ("-created_at",)
    readonly_fields = ("id", "created_at", "updated_at", "last_login")
    filter_horizontal = ()
    fieldsets = (
        (None, {"fields": ("id", "username", "password")}),
        ("Profile", {"fields": ("display_name", "email", "email_verified", "avatar_url")}),
        ("Access", {"fields": ("kind", "is_active", "is_staff", "is_superuser", "scopes")}),
        ("Dates", {"fields": ("last_login", "created_at", "updated_at")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "email", "kind", "password1", "password2"),
            },
        ),
    )
    actions = ["unlock_sign_in", "reset_mfa"]

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        # Changes made here are audited like the API's (field names only, never values).
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            audit_record(
                type="user.updated" if change else "user.created",
                actor=request.user.pk,
                subject_type="user",
                subject_id=obj.pk,
                data={"fields": sorted(form.changed_data), "via": "admin"},
            )
            if change and "is_active" in form.changed_data and not obj.is_active:
                # Deactivating here ends every credential, as DELETE /api/v1/users/{id} does.
                credentials().user_credentials_revoke(user=obj, access_tokens=True)
                audit_record(
                    type="user.deactivated",
                    actor=request.user.pk,
                    subject_type="user",
                    subject_id=obj.pk,
                    data={"via": "admin"},
                )

    @admin.action(description="Unlock sign-in (lift a brute-force lockout)")
    def unlock_sign_in(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = principal_for_user(request.user, method="session")  # type: ignore[arg-type]
        for user in queryset:
            credentials().account_unlock(user=user, actor=actor)
        self.message_user(request, f"Unlocked {len(queryset)} account(s).")

    @admin.action(description="Reset two-factor authentication (lost authenticator)")
    def reset_mfa(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        actor = principal_for_user(request.user, method="session")  # type: ignore[arg-type]
        for user in queryset:
            credentials().mfa_reset_by_admin(user=user, actor=actor)
        self.message_user(request, f"Two-factor authentication reset for {len(queryset)} user(s).")


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "scopes", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]
