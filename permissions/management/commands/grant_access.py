"""`grant_access OBJECT_TYPE OBJECT_ID --user|--group ID --read --write --admin`."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from permissions.serializers import OBJECT_ID_MAX, OBJECT_TYPE_MAX
from permissions.services import access_grant


class Command(BaseCommand):
    help = "Create or replace the grant of a user or group on one object (audited)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("object_type")
        parser.add_argument("object_id")
        subject = parser.add_mutually_exclusive_group(required=True)
        subject.add_argument("--user", metavar="ID", help="user id (UUID)")
        subject.add_argument("--group", metavar="ID", help="group id (UUID)")
        parser.add_argument("--read", action="store_true")
        parser.add_argument("--write", action="store_true")
        parser.add_argument("--admin", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        object_type, object_id = options["object_type"], options["object_id"]
        if not object_type or len(object_type) > OBJECT_TYPE_MAX:
            raise CommandError(f"OBJECT_TYPE must be 1 to {OBJECT_TYPE_MAX} characters")
        if not object_id or len(object_id) > OBJECT_ID_MAX or "\x00" in object_id:
            raise CommandError(f"OBJECT_ID must be 1 to {OBJECT_ID_MAX} characters")
        if not (options["read"] or options["write"] or options["admin"]):
            raise CommandError("give at least one of --read, --write, --admin")
        subject_type = "user" if options["user"] else "group"
        try:
            subject_id = uuid.UUID(options["user"] or options["group"])
        except ValueError as exc:
            raise CommandError(f"--{subject_type} must be a {subject_type} id (UUID)") from exc
        grant, created = access_grant(
            actor=None,
            object_type=object_type,
            object_id=object_id,
            subject_type=subject_type,
            subject_id=subject_id,
            read=options["read"],
            write=options["write"],
            admin=options["admin"],
        )
        verb = "granted" if created else "updated"
        self.stdout.write(f"{verb} {grant.pk}: {grant}")
