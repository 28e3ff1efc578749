"""Users (human and service accounts), groups and memberships."""

from __future__ import annotations

import secrets
import uuid
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.exceptions import ImproperlyConfigured
from django.core.validators import RegexValidator, URLValidator
from django.db import models
from django.db.models import Value
from django.db.models.functions import Lower
from django.db.models.lookups import Exact

from permissions import catalogue as registry

username_validator = RegexValidator(
    # No "@": a sign-in name containing one is always an email address, never a username.
    r"^[A-Za-z0-9_.+-]{1,150}$",
    "Use 1-150 letters, digits and _ . + - only.",
    code="invalid_username",
)
avatar_url_validator = URLValidator(schemes=["https", "http"])


# Built once: constructing a Field on every lookup is measurable on the login path.
_TEXT: models.CharField[str, str] = models.CharField()


def iequals(field: str, value: str) -> Exact:
    """`LOWER(field) = LOWER(value)`: the shape the case-insensitive unique indexes serve.

    (`__iexact` compiles to `UPPER(...)` on PostgreSQL and cannot use those indexes.)
    """
    return Exact(Lower(field), Lower(Value(value, output_field=_TEXT)))


def new_security_stamp() -> str:
    return secrets.token_urlsafe(16)


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(iequals("username", username or ""))

    def create_user(
        self, username: str, email: str = "", password: str | None = None, **extra: Any
    ) -> User:
        user = self.model(username=username, email=self.normalize_email(email or ""), **extra)
        user.set_password(password)
        user.full_clean(exclude=["password"])
        user.save(using=self._db)
        return user

    def create_superuser(
        self, username: str, email: str = "", password: str | None = None, **extra: Any
    ) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(username, email, password, **extra)


class User(AbstractBaseUser):
    class Kind(models.TextChoices):
        USER = "user", "User"
        SERVICE = "service", "Service account"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    username = models.CharField(max_length=150, unique=True, validators=[username_validator])
    email = models.EmailField(max_length=254, blank=True, default="")
    display_name = models.CharField(max_length=150, blank=True, default="")
    avatar_url = models.URLField(
        max_length=500, blank=True, default="", validators=[avatar_url_validator]
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.USER)
    email_verified = models.BooleanField(default=False)
    # Created by self sign-up (not by an administrator or a command): while sign-up is open,
    # such an account proves its address before it mints API keys.
    signed_up = models.BooleanField(default=False, db_default=False, editable=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May sign in to the admin site.")
    is_superuser = models.BooleanField(default=False, help_text="Holds every scope.")
    # Scopes granted to this account directly (service accounts hold only these).
    scopes = models.JSONField(default=list, blank=True)
    # Part of the session auth hash: changing it ends every dashboard session of the user.
    security_stamp = models.CharField(max_length=64, default=new_security_stamp, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(Lower("username"), name="user_username_ci_unique"),
            models.UniqueConstraint(
                Lower("email"), condition=~models.Q(email=""), name="user_email_ci_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["user", "service"]), name="user_kind_valid"
            ),
        ]
        indexes = [models.Index(fields=["created_at", "id"], name="user_created_idx")]

    def __str__(self) -> str:
        return self.username

    def get_session_auth_hash(self) -> str:
        # Django ends sessions whose stored hash no longer matches: include the stamp so
        # logout-all and deactivation can end every session without touching the password.
        from django.utils.crypto import salted_hmac

        return salted_hmac(
            "accounts.User.get_session_auth_hash",
            f"{self.password}:{self.security_stamp}",
            algorithm="sha256",
        ).hexdigest()

    # The admin site asks these; only superusers administer (scopes govern the API).
    def has_perm(self, perm: str, obj: object = None) -> bool:
        return self.is_active and self.is_superuser

    def has_module_perms(self, app_label: str) -> bool:
        return self.is_active and self.is_superuser

    @property
    def last_login_at(self) -> Any:
        return self.last_login

    @property
    def granted_scopes(self) -> frozenset[str]:
        return registry.registered(self.scopes or ())


def _max_length(field_name: str) -> int:
    field = User._meta.get_field(field_name)
    if not isinstance(field, models.CharField) or field.max_length is None:
        raise ImproperlyConfigured(f"User.{field_name} has no max_length")
    return field.max_length


# The longest username and email address an account can have. Longer input names nobody and is
# refused, never cut short: a cut string could name a different user.
USERNAME_MAX_LENGTH = _max_length("username")
EMAIL_MAX_LENGTH = _max_length("email")


class Group(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=150)
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members: models.ManyToManyField[User, Membership] = models.ManyToManyField(
        User, through="Membership", related_name="member_of"
    )

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="group_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MEMBER = "member", "Member"
        ADMIN = "admin", "Admin"

    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["group", "user"], name="membership_unique"),
            models.CheckConstraint(
                condition=models.Q(role__in=["member", "admin"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.group_id} ({self.role})"
