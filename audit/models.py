"""The audit trail's table."""

from __future__ import annotations

import uuid

from django.db import models


class AuditEvent(models.Model):
    """One security-relevant change, written in the same transaction as the change."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    type = models.CharField(max_length=64)
    actor_id = models.UUIDField(null=True, blank=True)
    subject_type = models.CharField(max_length=32, blank=True, default="")
    subject_id = models.CharField(max_length=255, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # The table the authn app created: the model moved, its rows stayed where they were.
        db_table = "authn_auditevent"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["type", "-created_at"], name="audit_type_idx"),
            models.Index(fields=["actor_id", "-created_at"], name="audit_actor_idx"),
            models.Index(fields=["subject_id", "-created_at"], name="audit_subject_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} by {self.actor_id}"
