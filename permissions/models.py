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
            # The listing walks a subject's readable objects of one type.
            models.Index(
                fields=["subject_id", "object_type", "object_id"],
                condition=Q(read=True),
                name="grant_subject_read_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject_type}:{self.subject_id} on {self.object_type}:{self.object_id}"
