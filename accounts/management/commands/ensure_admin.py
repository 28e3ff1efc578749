"""Creates the first admin on first run and prints its generated password once."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.models import User
from authn.audit import audit_record


class Command(BaseCommand):
    help = "Create an admin user with a generated password if no superuser exists yet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin user exists already; no new password was generated.")
            return
        password = secrets.token_urlsafe(18)
        with transaction.atomic():
            admin = User.objects.create_superuser(options["username"], "", password)
            audit_record(
                type="user.created",
                actor=None,
                subject_type="user",
                subject_id=admin.pk,
                data={"kind": admin.kind, "username": admin.username, "via": "ensure_admin"},
            )
        line = "=" * 64
        self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS("First run: created an admin user."))
        self.stdout.write(f"  username: {options['username']}")
        self.stdout.write(f"  password: {password}")
        self.stdout.write("This password is shown only now; change it at /dashboard/security/.")
        self.stdout.write(line)
