"""The security page's linked sign-ins: a person sees their links to identity providers and
removes them, never the last way to sign in."""

from __future__ import annotations

import pytest
from django.contrib.auth import HASH_SESSION_KEY
from django.test import Client

from accounts.models import User
from audit.models import AuditEvent
from authn.models import ExternalIdentity
from tests.authn.dashboard_helpers import LOGIN_URL, csrf_client, csrf_token
from tests.authn.identity_providers.helpers import link, provider_create
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

PAGE = "/dashboard/security/"


def remove_url(identity: ExternalIdentity) -> str:
    return f"/dashboard/security/identities/{identity.pk}/remove"


@pytest.fixture
def person() -> User:
    return UserFactory.create()


@pytest.fixture
def browser(person: User) -> Client:
    """The person signed in with their password, in a client enforcing CSRF."""
    client = csrf_client()
    response = client.post(
        LOGIN_URL,
        {
            "username": person.username,
            "password": DEFAULT_PASSWORD,
            "csrfmiddlewaretoken": csrf_token(client),
        },
    )
    assert response.status_code == 302
    return client


def drop_password(client: Client, person: User) -> None:
    """The account has no usable password any more (as one made at a first federated
    sign-in); the session is kept valid for it."""
    person.set_unusable_password()
    person.save(update_fields=["password"])
    session = client.session
    session[HASH_SESSION_KEY] = person.get_session_auth_hash()
    session.save()


def test_the_page_lists_the_links(browser: Client, person: User) -> None:
    identity = link(person, provider_create("acme", display_name="Acme SSO"))

    page = browser.get(PAGE).content.decode()

    assert "Linked sign-ins" in page
    assert "Acme SSO" in page
    assert remove_url(identity) in page


def test_removing_a_link_needs_the_csrf_token(browser: Client, person: User) -> None:
    identity = link(person, provider_create("acme"))

    assert browser.post(remove_url(identity)).status_code == 403
    assert ExternalIdentity.objects.exists()


def test_a_person_with_a_password_removes_a_link(browser: Client, person: User) -> None:
    identity = link(person, provider_create("acme"))
    token = csrf_token(browser)

    response = browser.post(remove_url(identity), {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert not ExternalIdentity.objects.exists()
    event = AuditEvent.objects.get(type="external_identity.unlinked")
    assert event.actor_id == person.pk
    assert event.data == {"idp": "acme", "subject": "sub-1", "via": "dashboard"}


def test_the_last_way_to_sign_in_is_refused_with_a_clear_message(
    browser: Client, person: User
) -> None:
    identity = link(person, provider_create("acme", display_name="Acme SSO"))
    drop_password(browser, person)
    token = csrf_token(browser)

    response = browser.post(remove_url(identity), {"csrfmiddlewaretoken": token})

    assert response.status_code == 409
    assert "it is your only way to sign in" in response.content.decode()
    assert ExternalIdentity.objects.filter(pk=identity.pk).exists()
    assert not AuditEvent.objects.filter(type="external_identity.unlinked").exists()


def test_without_a_password_another_link_still_allows_removing_one(
    browser: Client, person: User
) -> None:
    first = link(person, provider_create("acme"))
    link(person, provider_create("beta"), "sub-2")
    drop_password(browser, person)
    token = csrf_token(browser)

    response = browser.post(remove_url(first), {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert list(ExternalIdentity.objects.values_list("provider__slug", flat=True)) == ["beta"]


def test_someone_elses_link_is_a_404(browser: Client) -> None:
    theirs = link(UserFactory.create(), provider_create("acme"))
    token = csrf_token(browser)

    response = browser.post(remove_url(theirs), {"csrfmiddlewaretoken": token})

    assert response.status_code == 404
    assert ExternalIdentity.objects.exists()
