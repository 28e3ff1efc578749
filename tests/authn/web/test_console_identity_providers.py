"""Admin console: identity providers (list, add, edit, delete) and a user's linked identities."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from authn.models import ExternalIdentity, IdentityProvider
from tests.authn.identity_providers.helpers import ISSUER, SECRET, link, provider_create
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

URL = "/dashboard/admin/identity-providers/"


def form(**fields: str) -> dict[str, str]:
    return {
        "slug": "acme",
        "display_name": "Acme",
        "issuer": ISSUER,
        "client_id": "micro",
        "requested_scopes": "openid email profile",
        "enabled": "on",
        **fields,
    }


def test_a_member_without_api_admin_gets_the_403_page(member_console: Client) -> None:
    provider_create("acme")

    for url in [URL, f"{URL}acme/", f"{URL}acme/delete"]:
        assert member_console.get(url).status_code == 403
    assert member_console.post(URL, form(slug="other")).status_code == 403
    assert list(IdentityProvider.objects.values_list("slug", flat=True)) == ["acme"]


def test_the_admin_adds_a_provider_and_sees_its_redirect_uri(
    admin_console: Client, settings
) -> None:
    response = admin_console.post(URL, form(client_secret=SECRET), follow=True)

    provider = IdentityProvider.objects.get()
    assert provider.client_secret() == SECRET
    page = response.content.decode()
    assert f"{settings.MICRO_ISSUER}/accounts/federation/acme/callback/" in page
    assert SECRET not in page
    assert AuditEvent.objects.get(type="identity_provider.created").data["via"] == "console"


def test_the_list_shows_the_providers(admin_console: Client) -> None:
    link(UserFactory.create(), provider_create("acme", display_name="Acme SSO"))

    page = admin_console.get(URL).content.decode()

    assert "Acme SSO" in page
    assert 'href="/dashboard/admin/identity-providers/acme/"' in page


def test_invalid_settings_are_shown_on_the_form(admin_console: Client) -> None:
    refused = admin_console.post(
        URL, form(issuer="http://login.example.com", requested_scopes="email")
    )
    malformed = admin_console.post(URL, form(claim_mapping="nonsense"))

    assert refused.status_code == 400
    assert "An issuer is an https URL" in refused.content.decode()
    assert "must include openid" in refused.content.decode()
    assert malformed.status_code == 400
    assert "name=value" in malformed.content.decode()
    assert not IdentityProvider.objects.exists()


def test_a_taken_slug_and_an_unknown_group_are_shown_on_the_form(admin_console: Client) -> None:
    provider_create("acme")

    taken = admin_console.post(URL, form())
    unknown = admin_console.post(URL, form(slug="beta", group_mapping="staff=nobody"))

    assert taken.status_code == 400
    assert "exists" in taken.content.decode()
    assert unknown.status_code == 400
    assert "No local group named" in unknown.content.decode()


def test_editing_keeps_the_secret_unless_one_is_given(admin_console: Client) -> None:
    provider_create("acme", client_secret=SECRET)
    page = admin_console.get(f"{URL}acme/").content.decode()

    kept = admin_console.post(f"{URL}acme/", form(display_name="Acme 2", client_id="acme-client"))
    provider = IdentityProvider.objects.get()

    assert SECRET not in page
    assert kept.status_code == 302
    assert (provider.display_name, provider.client_secret()) == ("Acme 2", SECRET)
    event = AuditEvent.objects.get(type="identity_provider.updated")
    assert event.data["fields"] == ["display_name"]

    admin_console.post(f"{URL}acme/", form(public_client="on"))
    assert IdentityProvider.objects.get().client_secret() == ""


def test_deleting_asks_then_removes_the_links(admin_console: Client) -> None:
    acme = provider_create("acme")
    link(UserFactory.create(), acme)

    confirm = admin_console.get(f"{URL}acme/delete")
    done = admin_console.post(f"{URL}acme/delete")

    assert confirm.status_code == 200
    assert "Delete identity provider" in confirm.content.decode()
    assert done.status_code == 302
    assert not IdentityProvider.objects.exists()
    assert not ExternalIdentity.objects.exists()
    assert AuditEvent.objects.get(type="identity_provider.deleted").data["identities"] == 1


def test_the_user_page_lists_the_linked_identities(admin_console: Client, user: User) -> None:
    identity = link(user, provider_create("acme", display_name="Acme SSO"), "sub-42")

    page = admin_console.get(f"/dashboard/admin/users/{user.pk}/").content.decode()

    assert "Linked identities" in page
    assert "Acme SSO" in page
    assert "sub-42" in page
    assert f"/dashboard/admin/users/{user.pk}/identities/{identity.pk}/unlink" in page


def test_the_admin_unlinks_an_identity(admin_console: Client, user: User) -> None:
    identity = link(user, provider_create("acme"))
    url = f"/dashboard/admin/users/{user.pk}/identities/{identity.pk}/unlink"

    assert admin_console.get(url).status_code == 200
    response = admin_console.post(url)

    assert response.status_code == 302
    assert not ExternalIdentity.objects.exists()
    event = AuditEvent.objects.get(type="external_identity.unlinked")
    assert event.data == {"idp": "acme", "subject": "sub-1", "via": "console"}


def test_the_admin_cannot_unlink_the_last_way_to_sign_in(admin_console: Client) -> None:
    user = UserFactory.create()
    user.set_unusable_password()
    user.save()
    identity = link(user, provider_create("acme"))

    response = admin_console.post(
        f"/dashboard/admin/users/{user.pk}/identities/{identity.pk}/unlink"
    )

    assert response.status_code == 409
    assert "last way to sign in" in response.content.decode()
    assert ExternalIdentity.objects.filter(pk=identity.pk).exists()


def test_an_identity_of_another_user_is_a_404(admin_console: Client, user: User) -> None:
    identity = link(UserFactory.create(), provider_create("acme"))

    response = admin_console.post(
        f"/dashboard/admin/users/{user.pk}/identities/{identity.pk}/unlink"
    )

    assert response.status_code == 404
    assert ExternalIdentity.objects.exists()
