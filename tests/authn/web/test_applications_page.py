"""Dashboard: users register and delete OAuth 2.0 clients for their own applications."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client
from oauth2_provider.models import Application

from accounts.models import User
from audit.models import AuditEvent
from tests.authn.dashboard_helpers import enrol_totp, sign_in
from tests.authn.oauth_helpers import (
    AUTHORIZE_URL,
    REDIRECT_URI,
    OAuthClient,
    authorize_params,
    exchange,
    pkce_pair,
)
from tests.factories import UserFactory

URL = "/dashboard/applications/"


@pytest.fixture
def member(db: Any) -> User:
    return UserFactory.create(username="ines")


@pytest.fixture
def browser(member: User) -> Client:
    client = Client()
    sign_in(client, member)
    return client


def register(browser: Client, **fields: str) -> Any:
    data = {"name": "My app", "client_type": "confidential", "redirect_uris": REDIRECT_URI}
    data.update(fields)
    return browser.post(URL, data)


def test_registering_shows_the_secret_once_and_stores_a_hash(browser: Client, member: User) -> None:
    response = register(browser)

    assert response.status_code == 200
    application = Application.objects.get(user=member)
    registered = response.context["registered"]
    assert registered.application == application
    assert registered.client_secret.encode() in response.content
    assert registered.client_secret not in application.client_secret
    assert application.authorization_grant_type == Application.GRANT_AUTHORIZATION_CODE
    assert application.algorithm == Application.RS256_ALGORITHM
    assert AuditEvent.objects.filter(type="oauth_client.created").exists()

    listing = browser.get(URL)
    assert application.client_id.encode() in listing.content
    assert registered.client_secret.encode() not in listing.content


def test_a_registered_client_completes_the_code_flow(browser: Client) -> None:
    registered = register(browser).context["registered"]
    client = OAuthClient(
        registered.application, registered.application.client_id, registered.client_secret
    )
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge)
    assert browser.get(f"{AUTHORIZE_URL}?{urlencode(params)}").status_code == 200
    answer = browser.post(AUTHORIZE_URL, {**params, "allow": "Authorize"})
    code = parse_qs(urlsplit(answer["Location"]).query)["code"][0]

    assert exchange(Client(), client, code, verifier).status_code == 200


@pytest.mark.parametrize(
    "fields",
    [
        {"redirect_uris": "not a uri"},
        {"redirect_uris": "http://insecure.example/cb"},
        {"redirect_uris": "https://*.example/cb"},
        {"redirect_uris": ""},
        {"name": ""},
        {"client_type": "client-credentials"},
        {"name": "x" * 300},
    ],
)
def test_bad_input_is_refused_with_a_message(
    browser: Client, member: User, fields: dict[str, str]
) -> None:
    response = register(browser, **fields)

    assert response.status_code == 400
    assert response.context["form"].errors
    assert not Application.objects.filter(user=member).exists()


def test_a_comma_separated_list_is_refused_with_a_message(browser: Client, member: User) -> None:
    response = register(browser, redirect_uris=f"{REDIRECT_URI},https://other.example/cb")

    assert response.status_code == 400
    errors = response.context["form"].errors["redirect_uris"]
    assert errors == [
        f"Put each redirect URI on its own line, without commas: “{REDIRECT_URI},"
        "https://other.example/cb”."
    ]
    assert not Application.objects.filter(user=member).exists()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("https://a.example/cb https://b.example/cb", "has a space in it"),
        ("app.example/callback", "is not an absolute URI"),
        ("https:///callback", "is not an absolute URI"),
        ("https://app.example:port/cb", "is not a valid URI"),
        ("https://app.example/cb#done", "has a fragment"),
        # The service's redirect URI rule, said by the form itself.
        ("http://app.example/cb", "may use http only with a loopback IP address"),
        ("https://user@app.example/cb", "must not carry a user name or password"),
    ],
)
def test_each_line_is_validated_as_one_uri(
    browser: Client, member: User, line: str, message: str
) -> None:
    response = register(browser, redirect_uris=f"{REDIRECT_URI}\n{line}")

    assert response.status_code == 400
    errors = response.context["form"].errors["redirect_uris"]
    assert len(errors) == 1 and message in errors[0] and line in errors[0]
    assert not Application.objects.filter(user=member).exists()


def test_one_uri_per_line_registers_each_and_the_second_matches(
    browser: Client, member: User
) -> None:
    second = "https://second.example/oauth/cb"
    typed = f"  {REDIRECT_URI}\r\n\r\n{second}\n{second}\n"
    registered = register(browser, redirect_uris=typed).context["registered"]

    assert registered.application.redirect_uris.split() == [REDIRECT_URI, second]
    client = OAuthClient(registered.application, registered.application.client_id, "")
    _, challenge = pkce_pair()
    params = {**authorize_params(client, challenge), "redirect_uri": second}
    assert browser.get(f"{AUTHORIZE_URL}?{urlencode(params)}").status_code == 200


def test_the_redirect_uri_field_has_a_hint(browser: Client) -> None:
    body = browser.get(URL).content.decode()
    assert 'aria-describedby="id_redirect_uris_helptext"' in body
    assert 'id="id_redirect_uris_helptext">One per line' in body
    two_lines = "https://app.example/callback\nhttps://staging.app.example/callback"
    assert f'placeholder="{two_lines}"' in body


def test_a_second_application_of_the_same_name_is_refused(browser: Client, member: User) -> None:
    register(browser, name="Shop")

    response = register(browser, name="shop ")

    assert response.status_code == 400
    assert response.context["form"].errors["name"] == [
        "You already have an application named “shop”."
    ]
    assert Application.objects.filter(user=member).count() == 1
    other = Client()
    sign_in(other, UserFactory.create())
    assert register(other, name="Shop").status_code == 200  # names are per owner


def test_deleting_an_application(browser: Client, member: User) -> None:
    application = register(browser).context["registered"].application

    response = browser.post(f"{URL}{application.pk}/delete")

    assert response.status_code == 302
    assert not Application.objects.filter(pk=application.pk).exists()
    assert AuditEvent.objects.filter(type="oauth_client.deleted").exists()


def test_deleting_asks_to_confirm_first(browser: Client, member: User) -> None:
    application = register(browser).context["registered"].application
    url = f"{URL}{application.pk}/delete"
    assert f'<a class="button danger" href="{url}">Delete</a>' in browser.get(URL).content.decode()

    confirm = browser.get(url)
    assert confirm.status_code == 200
    body = confirm.content.decode()
    assert "Delete application “My app”?" in body and application.client_id in body
    assert f'<form method="post" action="{url}"' in body and "csrfmiddlewaretoken" in body
    assert Application.objects.filter(pk=application.pk).exists()  # looking is not deleting

    assert browser.post(url).status_code == 302
    assert not Application.objects.filter(pk=application.pk).exists()


def test_nobody_else_can_delete_it(browser: Client, db: Any) -> None:
    application = register(browser).context["registered"].application
    intruder = Client()
    sign_in(intruder, UserFactory.create())

    response = intruder.post(f"{URL}{application.pk}/delete")

    assert response.status_code == 404
    assert intruder.get(f"{URL}{application.pk}/delete").status_code == 404
    assert Application.objects.filter(pk=application.pk).exists()
    assert application.client_id.encode() not in intruder.get(URL).content


def test_the_page_needs_sign_in_and_csrf(member: User) -> None:
    assert Client().get(URL).status_code == 302
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member)
    assert strict.get(URL).status_code == 200
    assert strict.post(URL, {"name": "x"}).status_code == 403


def test_the_authorize_step_asks_a_user_with_mfa_for_the_code_first(db: Any) -> None:
    """The consent page sits behind the dashboard sign-in, OTP step included."""
    owner = UserFactory.create()
    registered = register(_signed_in(owner)).context["registered"]
    person = UserFactory.create(username="mfa-user")
    enrol_totp(person)
    _, challenge = pkce_pair()
    client = OAuthClient(registered.application, registered.application.client_id, "")
    next_url = f"{AUTHORIZE_URL}?{urlencode(authorize_params(client, challenge))}"
    browser = Client()

    first = browser.get(next_url)
    assert first.status_code == 302 and first["Location"].startswith("/accounts/login/")
    password_step = browser.post(
        first["Location"], {"username": person.username, "password": "correct horse battery staple"}
    )
    assert password_step["Location"].startswith("/accounts/login/otp/")
    # Without the code there is no session: the authorize page still sends to the login.
    assert browser.get(next_url)["Location"].startswith("/accounts/login/")


def _signed_in(user: User) -> Client:
    client = Client()
    sign_in(client, user)
    return client
