"""identity_providers list | show SLUG | add SLUG --issuer URL --client-id ID [...] |
update SLUG [...] | remove SLUG: the upstream OpenID Connect providers, managed from the
command line through the same checked and audited services as the API.

The client secret is never an argument (it would be in the shell history and the process
list): it comes from standard input (--client-secret-stdin) or an environment variable
(--client-secret-env VAR).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from authn.identity_providers import admin_selectors as selectors
from authn.identity_providers import services
from authn.models import IdentityProvider

VIA = "command"
FLAGS = (
    ("create_accounts", "create-accounts", "create an account on a first sign-in"),
    ("link_by_verified_email", "link-by-verified-email", "link by the provider's verified email"),
    ("enforces_mfa", "enforces-mfa", "the provider's amr/acr proving MFA stands in for ours"),
    ("use_userinfo", "userinfo", "read the userinfo endpoint too"),
)


def _provider_options(parser: CommandParser, *, update: bool) -> None:
    parser.add_argument("slug")
    parser.add_argument("--issuer", required=not update, metavar="URL")
    parser.add_argument("--client-id", required=not update, metavar="ID")
    parser.add_argument("--display-name")
    secret = parser.add_mutually_exclusive_group()
    secret.add_argument(
        "--client-secret-stdin", action="store_true", help="Read the client secret from stdin."
    )
    secret.add_argument(
        "--client-secret-env", metavar="VAR", help="Read the client secret from $VAR."
    )
    if update:
        secret.add_argument(
            "--public-client", action="store_true", help="Remove the client secret."
        )
    parser.add_argument(
        "--scope", action="append", dest="scopes", metavar="S", help="Repeat; openid required."
    )
    parser.add_argument("--allowed-domain", action="append", dest="domains", metavar="D")
    parser.add_argument("--claim", action="append", dest="claims", metavar="LOCAL=UPSTREAM")
    parser.add_argument("--group", action="append", dest="groups", metavar="UPSTREAM=LOCAL")
    for dest, flag, text in FLAGS:
        action = argparse.BooleanOptionalAction if update else "store_true"
        parser.add_argument(f"--{flag}", dest=dest, action=action, default=None, help=text)
    parser.add_argument("--disabled", dest="enabled", action="store_false", default=None)
    if update:
        parser.add_argument("--enabled", dest="enabled", action="store_true", default=None)
        for name in ("domains", "claims", "groups"):
            parser.add_argument(f"--clear-{name}", action="store_true", help=f"No {name}.")


def _pairs(values: list[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        key, sep, other = value.partition("=")
        if not sep or not key or not other:
            raise CommandError(f"--{option} takes NAME=VALUE, not {value!r}.")
        pairs[key] = other
    return pairs


class Command(BaseCommand):
    help = "List, show, add, update or remove the OpenID Connect identity providers."
    # Tests hand the secret's standard input in (call_command(..., stdin=...)).
    stealth_options = ("stdin",)

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        actions.add_parser("list", help="Every provider.")
        actions.add_parser("show", help="One provider.").add_argument("slug")
        _provider_options(actions.add_parser("add", help="Add a provider."), update=False)
        _provider_options(actions.add_parser("update", help="Change a provider."), update=True)
        actions.add_parser("remove", help="Remove a provider and its links.").add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "list":
            self._list()
            return
        if action == "add":
            self._add(options)
            return
        provider = selectors.identity_provider_detail(slug=options["slug"])
        if provider is None:
            raise CommandError(f"No identity provider {options['slug']!r}.")
        if action == "show":
            self._show(provider)
        elif action == "update":
            self._update(provider, options)
        else:
            count = services.identity_provider_delete(actor=None, via=VIA, provider=provider)
            self.stdout.write(f"Removed {provider.slug} and {count} account link(s) to it.")

    def _list(self) -> None:
        rows = list(selectors.identity_providers_all().order_by("slug"))
        if not rows:
            self.stdout.write("No identity providers.")
        for provider in rows:
            state = "enabled" if provider.enabled else "disabled"
            self.stdout.write(
                f"{provider.slug}\t{state}\t{provider.issuer}\t{provider.identity_count} linked"  # type: ignore[attr-defined]
            )

    def _show(self, provider: IdentityProvider) -> None:
        facts = {
            "slug": provider.slug,
            "display name": provider.display_name,
            "issuer": provider.issuer,
            "client id": provider.client_id,
            "client secret": "set" if provider.client_secret_encrypted else "none (public client)",
            "scopes": " ".join(provider.scopes),
            "enabled": provider.enabled,
            "create accounts": provider.create_accounts,
            "allowed email domains": " ".join(provider.allowed_email_domains) or "any",
            "link by verified email": provider.link_by_verified_email,
            "enforces MFA": provider.enforces_mfa,
            "userinfo": provider.use_userinfo,
            "claim mapping": _joined(provider.claim_mapping) or "standard claims",
            "group mapping": _joined(provider.group_mapping) or "none",
            "linked accounts": provider.identity_count,  # type: ignore[attr-defined]
            "redirect URI": services.redirect_uri(provider),
        }
        for name, value in facts.items():
            self.stdout.write(f"{name}: {value}")

    def _add(self, options: dict[str, Any]) -> None:
        values = {"slug": options["slug"], **self._values(options)}
        try:
            provider = services.identity_provider_create(actor=None, via=VIA, values=values)
        except ValidationError as exc:
            raise _command_error(exc) from exc
        except services.Conflict as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"Added identity provider {provider.slug}.")
        self.stdout.write(
            f"Register this redirect URI at the provider: {services.redirect_uri(provider)}"
        )

    def _update(self, provider: IdentityProvider, options: dict[str, Any]) -> None:
        changes = self._values(options)
        if options["public_client"]:
            changes["client_secret"] = ""
        for name, field in (
            ("domains", "allowed_email_domains"),
            ("claims", "claim_mapping"),
            ("groups", "group_mapping"),
        ):
            if options[f"clear_{name}"]:
                changes[field] = [] if name == "domains" else {}
        if not changes:
            raise CommandError("Nothing to change: give at least one option.")
        before = provider.updated_at
        try:
            provider = services.identity_provider_update(
                actor=None, via=VIA, provider=provider, changes=changes
            )
        except ValidationError as exc:
            raise _command_error(exc) from exc
        if provider.updated_at == before:
            self.stdout.write(f"No change to {provider.slug}.")
        else:
            self.stdout.write(f"Updated identity provider {provider.slug}.")

    def _values(self, options: dict[str, Any]) -> dict[str, Any]:
        """The provider's fields the options give."""
        values: dict[str, Any] = {
            field: options[option]
            for option, field in (
                ("issuer", "issuer"),
                ("client_id", "client_id"),
                ("display_name", "display_name"),
                ("scopes", "scopes"),
                ("domains", "allowed_email_domains"),
                ("enabled", "enabled"),
                *((dest, dest) for dest, _, _ in FLAGS),
            )
            if options.get(option) is not None
        }
        if options.get("claims"):
            values["claim_mapping"] = _pairs(options["claims"], "claim")
        if options.get("groups"):
            values["group_mapping"] = _pairs(options["groups"], "group")
        secret = self._secret(options)
        if secret is not None:
            values["client_secret"] = secret
        return values

    def _secret(self, options: dict[str, Any]) -> str | None:
        if options.get("client_secret_stdin"):
            secret = (options.get("stdin") or sys.stdin).read().rstrip("\r\n")
            if not secret:
                raise CommandError("No client secret on standard input.")
            return str(secret)
        name = options.get("client_secret_env")
        if name:
            secret = os.environ.get(name, "")
            if not secret:
                raise CommandError(f"The environment variable {name} is not set or empty.")
            return secret
        return None


def _joined(mapping: dict[str, str]) -> str:
    return ", ".join(f"{key}={value}" for key, value in mapping.items())


def _command_error(exc: ValidationError) -> CommandError:
    if hasattr(exc, "error_dict"):
        lines = [f"{field}: {' '.join(errors)}" for field, errors in exc.message_dict.items()]
        return CommandError("\n".join(lines))
    return CommandError(" ".join(exc.messages))
