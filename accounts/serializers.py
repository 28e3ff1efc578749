"""Plain serializers: inputs list exactly the writable fields; outputs are explicit views."""

from __future__ import annotations

from typing import Any, ClassVar

from rest_framework import serializers

from accounts.models import (
    EMAIL_MAX_LENGTH,
    USERNAME_MAX_LENGTH,
    Membership,
    User,
    avatar_url_validator,
    username_validator,
)
from accounts.validators import NO_PASSWORD_FOR_SERVICE_ACCOUNTS, display_name_validator
from micro_platform.serializers import StrictSerializer, scope_name_field


class UserPublicOut(serializers.Serializer):
    """What anyone with `users:read` sees: no email, no account state."""

    id = serializers.UUIDField()
    username = serializers.CharField()
    display_name = serializers.CharField()
    avatar_url = serializers.CharField()
    kind = serializers.ChoiceField(choices=User.Kind.choices)
    created_at = serializers.DateTimeField()


class UserPrivateOut(UserPublicOut):
    """The user themself, or a caller with `users:write`."""

    email = serializers.CharField()
    email_verified = serializers.BooleanField()
    is_active = serializers.BooleanField()
    last_login_at = serializers.DateTimeField(allow_null=True)


class UserBatchOut(serializers.Serializer):
    results = UserPublicOut(many=True)


class UserCreateIn(StrictSerializer):
    username = serializers.CharField(
        max_length=USERNAME_MAX_LENGTH, validators=[username_validator]
    )
    email = serializers.EmailField(
        max_length=EMAIL_MAX_LENGTH, required=False, allow_blank=True, default=""
    )
    password = serializers.CharField(
        max_length=256, required=False, trim_whitespace=False, write_only=True
    )
    display_name = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        validators=[display_name_validator],
    )
    kind = serializers.ChoiceField(choices=User.Kind.choices, required=False, default="user")

    schema_constraints: ClassVar[dict[str, Any]] = {
        "not": {"required": ["kind", "password"], "properties": {"kind": {"enum": ["service"]}}}
    }

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # A service account signs in with an API key or its client-credentials client, never a
        # password: with one it could use the dashboard and register clients as the account.
        if attrs.get("kind") == User.Kind.SERVICE and attrs.get("password") is not None:
            raise serializers.ValidationError(
                {"password": [NO_PASSWORD_FOR_SERVICE_ACCOUNTS]}, code="invalid"
            )
        return attrs


class SignupIn(StrictSerializer):
    """Self sign-up: an address and a password are required (the address gets verified)."""

    username = serializers.CharField(
        max_length=USERNAME_MAX_LENGTH, validators=[username_validator]
    )
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH)
    password = serializers.CharField(max_length=256, trim_whitespace=False, write_only=True)
    display_name = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        default="",
        validators=[display_name_validator],
    )


class UserUpdateSelfIn(StrictSerializer):
    """Fields a user may change on their own account."""

    display_name = serializers.CharField(
        max_length=150, required=False, allow_blank=True, validators=[display_name_validator]
    )
    avatar_url = serializers.CharField(
        max_length=500, required=False, allow_blank=True, validators=[avatar_url_validator]
    )
    email = serializers.EmailField(max_length=EMAIL_MAX_LENGTH, required=False, allow_blank=True)


class UserUpdateAdminIn(UserUpdateSelfIn):
    """Fields a `users:write` caller may change on any account."""

    username = serializers.CharField(
        max_length=USERNAME_MAX_LENGTH, required=False, validators=[username_validator]
    )
    is_active = serializers.BooleanField(required=False)


class PasswordChangeIn(StrictSerializer):
    old_password = serializers.CharField(max_length=256, trim_whitespace=False)
    new_password = serializers.CharField(max_length=256, trim_whitespace=False)


class MembershipOut(serializers.Serializer):
    id = serializers.UUIDField(source="group.id")
    name = serializers.CharField(source="group.name")
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class MeUserOut(UserPrivateOut):
    """The caller's own account: the private fields only when the context says `private`
    (a credential holding `profile`); otherwise the public view."""

    PRIVATE_FIELDS = ("email", "email_verified", "is_active", "last_login_at")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name in self.PRIVATE_FIELDS:
            fields[name].required = False  # documented as optional: absent from the public view
        return fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        data = super().to_representation(instance)
        if self.context.get("private") is not True:
            for name in self.PRIVATE_FIELDS:
                data.pop(name, None)
        return data


class MeOut(serializers.Serializer):
    user = MeUserOut()
    scopes = serializers.ListField(child=serializers.CharField())
    groups = MembershipOut(many=True)
    auth_method = serializers.ChoiceField(choices=["session", "jwt", "oauth2", "api_key"])


class GroupIn(StrictSerializer):
    name = serializers.CharField(max_length=150)
    scopes = serializers.ListField(child=scope_name_field(), required=False, default=list)


class GroupOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()


class MemberIn(StrictSerializer):
    user_id = serializers.UUIDField()
    role = serializers.ChoiceField(choices=Membership.Role.choices, default="member")


class MemberOut(serializers.Serializer):
    group_id = serializers.UUIDField()
    user_id = serializers.UUIDField()
    role = serializers.CharField()
    created_at = serializers.DateTimeField()
