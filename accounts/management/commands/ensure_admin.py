"""Creates the first admin on first run and prints its generated password once; with
`--reset`, gives an existing admin a new generated password (a lost one)."""

from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from accounts.ports import credentials
from accounts.services import user_password_reset
from audit.services import audit_record

RESET_HINT = (
    "Lost its password? `.venv/bin/python manage.py ensure_admin --reset{option}` prints a new "
    "one (or choose one with `.venv/bin/python manage.py changepassword {username}`)."
)


class Command(BaseCommand):
    help = (
        "Create an admin user with a generated password if no superuser exists yet; "
        "--reset gives the named admin a new generated password."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="give the admin --username a new generated password, printed once; its "
            "sign-ins end and its API keys are revoked",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["reset"]:
            self._reset(options["username"])
            return
        admin = User.objects.filter(is_superuser=True).order_by("created_at").first()
        if admin is not None:
            self.stdout.write("An admin user exists already; no new password was generated.")
            option = "" if admin.username == "admin" else f" --username {admin.username}"
            self.stdout.write(RESET_HINT.format(option=option, username=admin.username))
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
        self._show(options["username"], password, "First run: created an admin user.")

    def _reset(self, username: str) -> None:
        admin = User.objects.filter(username__iexact=username, is_superuser=True).first()
        if admin is None:
            names = ", ".join(
                User.objects.filter(is_superuser=True)
                .order_by("username")
                .values_list("username", flat=True)
            )
            raise CommandError(
                f"No admin user {username!r}; admins: {names or 'none (run without --reset)'}."
            )
        password = user_password_reset(user=admin, via="ensure_admin")
        # A lost password usually comes with a lock from the tries: the operator lifts it too.
        credentials().account_unlock(user=admin, actor=None)
        self._show(
            admin.username,
            password,
            "Reset the admin's password and lifted any sign-in lock; its sign-ins ended and its"
            " API keys were revoked.",
        )
        if not admin.is_active:
            self.stderr.write(
                f"Note: {admin.username} is deactivated and cannot sign in until an admin"
                " reactivates the account."
            )

    def _show(self, username: str, password: str, headline: str) -> None:
        line = "=" * 64
        self.stdout.write(line)
        self.stdout.write(self.style.SUCCESS(headline))
        self.stdout.write(f"  username: {username}")
        self.stdout.write(f"  password: {password}")
        self.stdout.write("This password is shown only now; change it at /dashboard/security/.")
        self.stdout.write(line)
