"""mint_api_key --user USERNAME --scope S... [--resource SERVICE] [--expires-in-days N] [--json]."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.selectors import user_get_by_username
from authn.api_keys.services import DEFAULT_EXPIRY_DAYS, api_key_create
from authn.management.commands._api_key_output import (
    as_json_line,
    command_error,
    minted_fields,
)


class Command(BaseCommand):
    help = "Mint an API key for a user; the key is printed once and never stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", required=True, metavar="USERNAME")
        parser.add_argument(
            "--scope", required=True, nargs="+", action="extend", dest="scopes", metavar="S"
        )
        parser.add_argument("--expires-in-days", type=int, default=DEFAULT_EXPIRY_DAYS)
        parser.add_argument("--name", default="command line", help="A label for the key.")
        parser.add_argument(
            "--resource",
            default=None,
            metavar="SERVICE",
            help="Bind the key to one registered service (its name or audience).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        owner = user_get_by_username(username=options["user"])
        if owner is None:
            raise CommandError(f"No user named {options['user']!r}.")
        try:
            minted = api_key_create(
                owner=owner,
                name=options["name"],
                scopes=options["scopes"],
                expires_in_days=options["expires_in_days"],
                actor=None,
                resource=options["resource"],
            )
        except ValidationError as exc:
            raise command_error(exc) from exc
        fields = minted_fields(minted)
        if options["json"]:
            self.stdout.write(as_json_line(fields))
            return
        for name in ("id", "prefix", "scopes", "resource", "expires_at"):
            if name in fields:
                self.stdout.write(f"{name}: {fields[name]}")
        self.stdout.write(f"key: {minted.key}")
        self.stdout.write("The key is shown only now; store it safely.")
