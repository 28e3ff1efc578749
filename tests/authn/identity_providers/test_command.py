"""The identity_providers management command: list, show, add, update, remove, through the same
services as the API; the secret from stdin or the environment, never an argument."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from authn.models import ExternalIdentity, IdentityProvider
from tests.authn.identity_providers.helpers import ISSUER, SECRET, link, provider_create
from tests.factories import GroupFactory, UserFactory

pytestmark = pytest.mark.django_db(databases="__all__")


def run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {} if stdin is None else {"stdin": io.StringIO(stdin)}
    call_command("identity_providers", *args, stdout=out, **extra)
    return out.getvalue()


def test_add_prints_the_redirect_uri_and_audits(settings):
    out = run("add", "acme", "--issuer", ISSUER, "--client-id", "micro")

    provider = IdentityProvider.objects.get()
    assert (provider.issuer, provider.display_name, provider.enabled) == (ISSUER, "acme", True)
    assert f"{settings.MICRO_ISSUER}/accounts/federation/acme/callback/" in out
    event = AuditEvent.objects.get(type="identity_provider.created")
    assert (event.actor_id, event.data["via"]) == (None, "command")


def test_add_with_every_option():
    GroupFactory.create(name="editors")

    run(
        "add",
        "acme",
        "--issuer",
        ISSUER,
        "--client-id",
        "micro",
        "--display-name",
        "Acme",
        "--scope",
        "openid",
        "--scope",
        "groups",
        "--create-accounts",
        "--allowed-domain",
        "Example.com",
        "--link-by-verified-email",
        "--enforces-mfa",
        "--userinfo",
        "--claim",
        "username=preferred_username",
        "--group",
        "staff=editors",
        "--disabled",
    )

    provider = IdentityProvider.objects.get()
    assert provider.scopes == ["openid", "groups"]
    assert provider.allowed_email_domains == ["example.com"]
    assert provider.claim_mapping == {"username": "preferred_username"}
    assert provider.group_mapping == {"staff": "editors"}
    assert (provider.create_accounts, provider.link_by_verified_email) == (True, True)
    assert (provider.enforces_mfa, provider.use_userinfo, provider.enabled) == (True, True, False)


def test_the_secret_comes_from_stdin():
    run(
        "add",
        "acme",
        "--issuer",
        ISSUER,
        "--client-id",
        "m",
        "--client-secret-stdin",
        stdin=SECRET + "\n",
    )

    assert IdentityProvider.objects.get().client_secret() == SECRET


def test_the_secret_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ACME_SECRET", SECRET)

    out = run(
        "add", "acme", "--issuer", ISSUER, "--client-id", "m", "--client-secret-env", "ACME_SECRET"
    )

    assert IdentityProvider.objects.get().client_secret() == SECRET
    assert SECRET not in out


def test_a_missing_secret_variable_is_an_error():
    with pytest.raises(CommandError, match="NOT_SET_ANYWHERE"):
        run(
            "add",
            "acme",
            "--issuer",
            ISSUER,
            "--client-id",
            "m",
            "--client-secret-env",
            "NOT_SET_ANYWHERE",
        )

    assert not IdentityProvider.objects.exists()


def test_an_empty_stdin_secret_is_an_error():
    with pytest.raises(CommandError, match="standard input"):
        run(
            "add", "acme", "--issuer", ISSUER, "--client-id", "m", "--client-secret-stdin", stdin=""
        )


def test_there_is_no_option_taking_the_secret_itself():
    with pytest.raises(CommandError):
        run("add", "acme", "--issuer", ISSUER, "--client-id", "m", "--client-secret", SECRET)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--issuer", "http://login.example.com", "--client-id", "m"), "issuer"),
        (("--issuer", ISSUER, "--client-id", "m", "--scope", "email"), "openid"),
        (("--issuer", ISSUER, "--client-id", "m", "--claim", "password=pw"), "claim_mapping"),
        (("--issuer", ISSUER, "--client-id", "m", "--claim", "nothing"), "NAME=VALUE"),
        (("--issuer", ISSUER, "--client-id", "m", "--group", "a=nobody"), "nobody"),
        (("--issuer", ISSUER, "--client-id", "m", "--allowed-domain", "x y"), "domain"),
    ],
)
def test_bad_input_is_a_command_error(args, message):
    with pytest.raises(CommandError, match=message):
        run("add", "acme", *args)

    assert not IdentityProvider.objects.exists()


def test_a_taken_slug_is_a_command_error():
    provider_create("acme")

    with pytest.raises(CommandError, match="exists"):
        run("add", "acme", "--issuer", ISSUER, "--client-id", "m")


def test_list_and_show_never_print_the_secret():
    acme = provider_create("acme", client_secret=SECRET)
    link(UserFactory.create(), acme)

    listed = run("list")
    shown = run("show", "acme")

    assert "acme" in listed
    assert "1 linked" in listed
    assert "client secret: set" in shown
    assert "redirect URI: " in shown
    assert SECRET not in listed + shown


def test_list_says_when_there_are_none():
    assert "No identity providers." in run("list")


def test_update_changes_the_given_fields_and_negations_work():
    provider_create("acme", create_accounts=True, allowed_email_domains=["example.com"])

    out = run(
        "update",
        "acme",
        "--no-create-accounts",
        "--clear-domains",
        "--disabled",
        "--client-secret-stdin",
        stdin="new",
    )

    provider = IdentityProvider.objects.get()
    assert "Updated" in out
    assert (provider.create_accounts, provider.allowed_email_domains) == (False, [])
    assert provider.enabled is False
    assert provider.client_secret() == "new"
    event = AuditEvent.objects.get(type="identity_provider.updated")
    assert event.data["fields"] == [
        "allowed_email_domains",
        "client_secret",
        "create_accounts",
        "enabled",
    ]


def test_update_public_client_removes_the_secret():
    provider_create("acme", client_secret=SECRET)

    run("update", "acme", "--public-client")

    assert IdentityProvider.objects.get().client_secret_encrypted == ""


def test_update_without_options_is_an_error_and_an_unknown_slug_too():
    provider_create("acme")

    with pytest.raises(CommandError, match="Nothing to change"):
        run("update", "acme")
    with pytest.raises(CommandError, match="No identity provider"):
        run("update", "nobody", "--enabled")


def test_update_to_the_same_values_says_no_change():
    provider_create("acme")

    assert "No change" in run("update", "acme", "--enabled")


def test_remove_deletes_the_provider_and_its_links():
    acme = provider_create("acme")
    link(UserFactory.create(), acme)

    out = run("remove", "acme")

    assert "1 account link" in out
    assert not IdentityProvider.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert AuditEvent.objects.get(type="identity_provider.deleted").data["identities"] == 1
