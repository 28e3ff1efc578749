"""Admin for users, groups and memberships."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, UserCreationForm

from accounts.models import Group, Membership, User


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


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreateForm
    change_password_form = AdminPasswordChangeForm
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


@admin.register(Group)
class GroupAdmin(admin.ModelAdmin):
    list_display = ("name", "scopes", "created_at")
    search_fields = ("name",)
    inlines = [MembershipInline]
