"""Grant tables; no foreign key to `accounts`, so the app can live in another database."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q


class Grant(models.Model):
    """What one subject (a user or a group, by id) may do with one object of any service."""

    class SubjectType(models.TextChoices):
        USER = "user", "user"
        GROUP = "group", "group"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=255)
    subject_type = models.CharField(max_length=5, choices=SubjectType.choices)
    # A UUID, not a foreign key: users and groups may live in another database.
    subject_id = models.UUIDField()
    read = models.BooleanField(default=False)
    write = models.BooleanField(default=False)
    admin = models.BooleanField(default=False)
    granted_by = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # One row per object and subject; its index also serves the per-object check.
            models.UniqueConstraint(
                fields=["object_type", "object_id", "subject_type", "subject_id"],
                name="grant_one_per_object_subject",
            ),
            models.CheckConstraint(
                condition=Q(subject_type__in=["user", "group"]), name="grant_subject_type_valid"
            ),
        ]
        indexes = [
            # The listing walks a subject's readable objects of one type in id order; the
            # subject's type is in the key so that a page of group grants reads its range in
            # order from the index alone (the grouped list reads one range per subject).
            models.Index(
                fields=["subject_id", "subject_type", "object_type", "object_id"],
                condition=Q(read=True),
                name="grant_subject_read_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_id} on {self.object_type}:{self.object_id}"


class Service(models.Model):
    """A resource server of the platform: it owns scopes named `<name>:<action>`, and tokens
    asked for it (RFC 8707 `resource`) carry its `audience` and only its scopes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Never renamed: scope names, tokens and manifests spell it.
    name = models.CharField(max_length=63, unique=True)
    audience = models.CharField(max_length=255, unique=True)
    description = models.CharField(max_length=500, blank=True, default="")
    # The service itself (`micro`): its scopes are the code's, and it cannot be deleted.
    built_in = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Scope(models.Model):
    """One permission a service checks in a token, named for good."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="scopes")
    name = models.CharField(max_length=127, unique=True)
    description = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A named set of scopes from any services, given to users and groups."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=63, unique=True)
    description = models.CharField(max_length=500, blank=True, default="")
    # Scope names, as groups, users and API keys hold them (the registry checks them).
    scopes = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RoleAssignment(models.Model):
    """A role given to one user or one group, by id (as a grant names its subject)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="assignments")
    subject_type = models.CharField(max_length=5, choices=Grant.SubjectType.choices)
    # A UUID, not a foreign key: users and groups may live in another database.
    subject_id = models.UUIDField()
    assigned_by = models.UUIDField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subject_id", "subject_type", "role"], name="role_once_per_subject"
            ),
            models.CheckConstraint(
                condition=Q(subject_type__in=["user", "group"]),
                name="role_assignment_subject_type_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role_id} to {self.subject_type}:{self.subject_id}"
