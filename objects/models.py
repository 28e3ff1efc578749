"""Tables of the objects service (object-level access lives in `permissions`)."""

from __future__ import annotations

import secrets
import time
import uuid

from django.db import models


def new_object_id() -> str:
    """A time-ordered UUID (version 7, RFC 9562): ids sort by creation, so the list can page
    by id alone, in the order of the grants index (hand-written: Python 3.11 has no uuid7)."""
    millis = time.time_ns() // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(uuid.UUID(int=value))


class Object(models.Model):
    """A stored JSON document; `owner_id` is a user id, never a foreign key, so the
    objects and grants tables may live in a database of their own."""

    # The canonical UUID text, not a UUIDField: grants key objects by string, and an equal
    # string column makes the access EXISTS a plain indexed equality in both directions on
    # every backend (a cast would defeat the index, and SQLite stores UUIDs without dashes).
    id = models.CharField(primary_key=True, max_length=36, default=new_object_id, editable=False)
    name = models.CharField(max_length=200)
    value = models.JSONField(null=True, blank=True)
    owner_id = models.UUIDField()
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
