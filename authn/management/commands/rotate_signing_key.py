"""Makes a new signing key active; retired keys stay published until their tokens expire."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from authn.models import SigningKey
from authn.tokens.signing_keys import signing_key_ensure, signing_key_rotate


class Command(BaseCommand):
    help = "Rotate the JWT signing key (or, with --if-missing, create the first one)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--if-missing",
            action="store_true",
            help="Only create a key when there is no active one (used by `make run`).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["if_missing"]:
            existed = SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).exists()
            key = signing_key_ensure()
            verb = "Active signing key" if existed else "Created signing key"
            self.stdout.write(f"{verb}: kid={key.kid}")
            return
        key = signing_key_rotate(actor=None)
        self.stdout.write(self.style.SUCCESS(f"New active signing key: kid={key.kid}"))
        retired = SigningKey.objects.filter(status=SigningKey.Status.RETIRED).order_by(
            "-retired_at"
        )
        for old in retired[:5]:
            self.stdout.write(
                f"Retired kid={old.kid}, published until {old.publish_until:%Y-%m-%d %H:%M:%S %Z}"
            )
