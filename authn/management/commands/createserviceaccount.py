"""createserviceaccount NAME --scope S [--scope S...] [--api-key] [--oauth-client] [--json]."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.models import User
from accounts.services import Conflict, user_create
from authn.api_keys.services import api_key_create
from authn.management.commands._api_key_output import as_json_line, command_error
from authn.oauth.services import service_account_client_create
from micro_platform import scopes as scope_catalogue
from permissions import catalogue as registry


class Command(BaseCommand):
    help = (
        "Create a service account holding the given scopes, optionally with an API key and an "
        "OAuth2 client-credentials client. Secrets are printed once, never logged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", metavar="NAME")
        parser.add_argument(
            "--scope", required=True, nargs="+", action="extend", dest="scopes", metavar="S"
        )
        parser.add_argument("--api-key", action="store_true", help="Also mint an API key.")
        parser.add_argument(
            "--oauth-client",
            action="store_true",
            help="Also register an OAuth2 client (client credentials) acting as the account.",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scopes = registry.validate_scopes(options["scopes"])
        except scope_catalogue.UnknownScope as exc:
            raise CommandError(str(exc)) from exc
        # One transaction: a failed key mint leaves no half-made account behind.
        with transaction.atomic():
            user = self._create(options["name"], scopes)
            output: dict[str, Any] = {
                "id": str(user.pk),
                "username": user.username,
                "scopes": sorted(scopes),
            }
            if options["api_key"]:
                output["api_key"] = self._mint(user, scopes)
            if options["oauth_client"]:
                client = service_account_client_create(account=user, actor=None)
                output["client_id"] = client.application.client_id
                output["client_secret"] = client.client_secret
        self._print(output, as_json=options["json"])

    def _create(self, name: str, scopes: frozenset[str]) -> User:
        try:
            user = User(username=name, kind=User.Kind.SERVICE)
            user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
            return user_create(actor=None, username=name, kind=User.Kind.SERVICE, scopes=scopes)
        except Conflict as exc:
            raise CommandError(exc.message) from exc
        except ValidationError as exc:
            raise command_error(exc) from exc

    def _mint(self, user: User, scopes: frozenset[str]) -> str:
        try:
            minted = api_key_create(owner=user, name="service account", scopes=scopes, actor=None)
        except ValidationError as exc:
            raise command_error(exc) from exc
        return minted.key

    def _print(self, output: dict[str, Any], *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(as_json_line(output))
            return
        for name in ("id", "username", "scopes"):
            self.stdout.write(f"{name}: {output[name]}")
        names = ("api_key", "client_id", "client_secret")
        secrets_shown = [name for name in names if name in output]
        for name in secrets_shown:
            self.stdout.write(f"{name}: {output[name]}")
        if secrets_shown:
            self.stdout.write("Secrets are shown only now; store them safely.")
