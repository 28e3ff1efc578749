"""revoke_api_key ID: the key stops working at once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from authn.api_keys.selectors import api_key_get
from authn.api_keys.services import api_key_revoke
from authn.models import ApiKey


class Command(BaseCommand):
    help = "Revoke an API key by its id; it stops working at once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("id", metavar="ID")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            api_key = api_key_get(key_id=options["id"])
        except ApiKey.DoesNotExist as exc:
            raise CommandError(f"No API key with id {options['id']!r}.") from exc
        if api_key.revoked_at is not None:
            self.stdout.write(f"API key {api_key.pk} was already revoked.")
            return
        api_key_revoke(api_key=api_key, actor=None)
        self.stdout.write(f"Revoked API key {api_key.pk} ({api_key.prefix}).")
