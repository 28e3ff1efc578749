"""Helpers for the permissions and objects tests: principals, grants, objects, query counts."""

from __future__ import annotations

import uuid
from typing import Any

from django.db import connections
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from accounts.principals import principal_for_user
from micro_platform.identity import Principal
from objects.models import Object
from objects.services import object_create
from permissions.models import Grant
from permissions.services import access_grant, grants_db

ACCESS_URL = "/api/v1/access"
CHECK_URL = "/api/v1/access/check"
OBJECTS_URL = "/api/v1/objects"


def principal(user: User) -> Principal:
    return principal_for_user(user, method="jwt")


def make_object(owner: User, name: str = "doc", value: Any = None) -> Object:
    return object_create(actor=principal(owner), name=name, value=value or {"n": 0})


def grant(
    obj: Object | str,
    subject: User | uuid.UUID,
    *,
    subject_type: str = "user",
    read: bool = False,
    write: bool = False,
    admin: bool = False,
    object_type: str = "object",
) -> Grant:
    """A grant written by the operator (no actor), as `grant_access` would."""
    subject_id = subject.pk if isinstance(subject, User) else subject
    row, _ = access_grant(
        actor=None,
        object_type=object_type,
        object_id=obj if isinstance(obj, str) else obj.pk,
        subject_type=subject_type,
        subject_id=subject_id,
        read=read,
        write=write,
        admin=admin,
    )
    return row


def object_url(obj: Object | str) -> str:
    return f"{OBJECTS_URL}/{obj if isinstance(obj, str) else obj.pk}"


def grants_queries() -> CaptureQueriesContext:
    """Captures the queries sent to the database holding grants and objects."""
    return CaptureQueriesContext(connections[grants_db()])
