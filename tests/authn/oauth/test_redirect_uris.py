"""Redirect URIs: https, or http to a loopback IP address for native apps (RFC 8252 §7.3).

The rule holds at every path that stores a client (the dashboard, the admin, the
`createapplication` command, any other save) and when a request names a redirect URI; the
test settings run with DEBUG off, as production does.
"""

from __future__ import annotations

from io import StringIO
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from oauth2_provider.models import Application

from accounts.models import User
from audit.models import AuditEvent
from authn.oauth.redirect_uris import redirect_uri_problem
from tests.authn.oauth_helpers import (
    AUTHORIZE_URL,
    TOKEN_URL,
    OAuthClient,
    authorize_params,
    code_flow_tokens,
    make_client,
    pkce_pair,
)

LOOPBACK_URIS = ["http://127.0.0.1/callback", "http://[::1]:8080/cb"]
REFUSED_HTTP_URIS = [
    "http://localhost:1234/cb",
    "http://example.com/cb",
    "http://127.0.0.1.evil.com/cb",
    "http://10.0.0.1/cb",
]
APPLICATIONS_URL = "/dashboard/applications/"
ADMIN_ADD_URL = "/admin/oauth2_provider/application/add/"


def test_the_settings_are_production_like() -> None:
    assert settings.DEBUG is False


# --- The rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example/callback",
        "https://app.example:8443/cb?tenant=1",
        "http://127.0.0.1/callback",
        "http://127.0.0.1:51004/callback",
        "http://127.0.0.2/cb",
        "http://[::1]/cb",
        "http://[::1]:8080/cb",
        "HTTP://127.0.0.1/cb",
    ],
)
def test_https_and_http_to_a_loopback_ip_address_are_allowed(uri: str) -> None:
    assert redirect_uri_problem(uri) is None


@pytest.mark.parametrize(
    "uri",
    [
        *REFUSED_HTTP_URIS,
        "http://localhost/cb",
        "http://LOCALHOST:8080/cb",
        "http://127.0.0.1./cb",
        "http://127.1/cb",
        "http://0x7f.0.0.1/cb",
        "http://2130706433/cb",
        "http://127.000.000.001/cb",
        "http://[::ffff:127.0.0.1]/cb",
        "http://[::1%25eth0]/cb",
        "http://[::2]/cb",
        "http://evil.example@127.0.0.1/cb",
        "http://127.0.0.1@evil.example/cb",
        "https://user:secret@app.example/cb",
        "http://127.0.0.1/cb#fragment",
        "https://app.example/cb#",
        "http://127.0.0.1:99999/cb",
        "http://127.0.0.1:port/cb",
        "http://127.0.0.1/c\tb",
        "http://127.0.0.1/c\x00b",
        "https:///cb",
        "ftp://app.example/cb",
        "com.example.app:/oauth2redirect",
        "javascript:alert(1)",
        "//app.example/cb",
        "/callback",
        "",
    ],
)
def test_any_other_uri_is_refused_with_a_reason(uri: str) -> None:
    assert redirect_uri_problem(uri)


# --- Registration in the dashboard ---------------------------------------------------------


def register(browser: Client, redirect_uris: str, client_type: str = "public") -> Any:
    data = {"name": "Desktop app", "client_type": client_type, "redirect_uris": redirect_uris}
    return browser.post(APPLICATIONS_URL, data)


@pytest.mark.parametrize("uri", LOOPBACK_URIS)
def test_the_dashboard_registers_a_loopback_redirect_uri(
    browser: Client, member: User, uri: str
) -> None:
    response = register(browser, uri)

    assert response.status_code == 200, response.context["form"].errors
    assert Application.objects.get(user=member).redirect_uris == uri


@pytest.mark.parametrize("uri", REFUSED_HTTP_URIS)
def test_the_dashboard_refuses_http_to_any_other_host(
    browser: Client, member: User, uri: str
) -> None:
    response = register(browser, f"{LOOPBACK_URIS[0]}\n{uri}")

    assert response.status_code == 400
    assert "loopback IP address" in str(response.context["form"].errors["redirect_uris"])
    assert not Application.objects.filter(user=member).exists()


# --- The code flow through a loopback redirect ---------------------------------------------


def test_a_native_app_completes_the_code_flow_on_another_port(
    browser: Client, member: User
) -> None:
    """Registered without a port; the app listens on whatever port the system gave it."""
    registered = register(browser, "http://127.0.0.1/callback").context["registered"]
    client = OAuthClient(registered.application, registered.application.client_id, "")
    redirect_uri = "http://127.0.0.1:51004/callback"
    verifier, challenge = pkce_pair()
    params = authorize_params(client, challenge, redirect_uri=redirect_uri)

    assert browser.get(f"{AUTHORIZE_URL}?{urlencode(params)}").status_code == 200
    answer = browser.post(AUTHORIZE_URL, {**params, "allow": "Authorize"})
    assert answer.status_code == 302
    location = urlsplit(answer["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "http",
        "127.0.0.1:51004",
        "/callback",
    )
    code = parse_qs(location.query)["code"][0]

    token = Client().post(
        TOKEN_URL,
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": client.client_id,
        },
    )
    assert token.status_code == 200, token.content
    assert token.json()["access_token"]


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "http://[::1]:51004/callback",  # another loopback address than the registered one
        "http://localhost:51004/callback",
        "https://127.0.0.1:51004/callback",
        "http://127.0.0.1:51004/callback/",
        "http://127.0.0.1:51004/callback?next=x",
        "http://127.0.0.1.evil.com:51004/callback",
    ],
)
def test_only_the_port_of_a_loopback_redirect_uri_may_differ(
    browser: Client, redirect_uri: str
) -> None:
    client = make_client(client_type=Application.CLIENT_PUBLIC, redirect_uris=LOOPBACK_URIS[0])
    _, challenge = pkce_pair()
    query = urlencode(authorize_params(client, challenge, redirect_uri=redirect_uri))

    response = browser.get(f"{AUTHORIZE_URL}?{query}")

    assert response.status_code == 400
    assert not response.has_header("Location")


def test_an_https_redirect_uri_still_matches_its_port_exactly(
    browser: Client, web_client: OAuthClient
) -> None:
    _, challenge = pkce_pair()
    query = urlencode(
        authorize_params(web_client, challenge, redirect_uri="https://client.example:8443/callback")
    )

    response = browser.get(f"{AUTHORIZE_URL}?{query}")

    assert response.status_code == 400
    assert not response.has_header("Location")


# --- Request time: a stored URI the rule refuses is never used -----------------------------


def stored_anyway(uri: str) -> OAuthClient:
    """A client whose row holds `uri`, written past the checks (an old row, a raw update)."""
    client = make_client(redirect_uris=LOOPBACK_URIS[0])
    Application.objects.filter(pk=client.application.pk).update(
        redirect_uris=uri, post_logout_redirect_uris=uri
    )
    client.application.refresh_from_db()
    return client


@pytest.mark.parametrize("uri", REFUSED_HTTP_URIS)
def test_a_stored_http_uri_to_another_host_is_not_redirected_to(browser: Client, uri: str) -> None:
    client = stored_anyway(uri)
    _, challenge = pkce_pair()

    named = browser.get(
        f"{AUTHORIZE_URL}?{urlencode(authorize_params(client, challenge, redirect_uri=uri))}"
    )
    params = authorize_params(client, challenge)
    del params["redirect_uri"]  # the client's only URI would be the default
    default = browser.get(f"{AUTHORIZE_URL}?{urlencode(params)}")

    for response in (named, default):
        assert response.status_code == 400
        assert not response.has_header("Location")


def test_a_stored_http_post_logout_uri_to_another_host_is_not_redirected_to(
    browser: Client, web_client: OAuthClient
) -> None:
    tokens = code_flow_tokens(browser, web_client)
    uri = "http://evil.example/signed-out"
    Application.objects.filter(pk=web_client.application.pk).update(post_logout_redirect_uris=uri)

    response = browser.post(
        "/o/logout/",
        {
            "id_token_hint": tokens["id_token"],
            "client_id": web_client.client_id,
            "post_logout_redirect_uri": uri,
            "allow": "1",
        },
    )

    assert response.status_code == 400
    assert not response.has_header("Location")


# --- Any other save ------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
def test_no_path_stores_a_client_with_a_refused_uri(db: Any, field: str) -> None:
    application = Application(
        name="Scripted",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=LOOPBACK_URIS[0],
    )
    setattr(application, field, "http://example.com/cb")

    with pytest.raises(ValidationError) as refused:
        application.save()

    assert field in refused.value.message_dict
    assert not Application.objects.filter(name="Scripted").exists()


def test_saving_other_fields_of_an_old_row_still_works(db: Any) -> None:
    client = stored_anyway("http://example.com/cb")
    client.application.name = "Renamed"

    client.application.save(update_fields=["name"])

    assert Application.objects.get(pk=client.application.pk).name == "Renamed"


# --- The admin -----------------------------------------------------------------------------


def admin_add(admin_user: User, **fields: str) -> Any:
    browser = Client()
    browser.force_login(admin_user)
    page = browser.get(ADMIN_ADD_URL, secure=True)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {name: value for name, value in data.items() if value is not None and value is not False}
    data.update(
        name="Admin-made",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        algorithm=Application.RS256_ALGORITHM,
        **fields,
    )
    return browser.post(ADMIN_ADD_URL, data, secure=True)


def test_the_admin_registers_loopback_redirect_uris(admin_user: User) -> None:
    response = admin_add(admin_user, redirect_uris=" ".join(LOOPBACK_URIS))

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Application.objects.get(name="Admin-made").redirect_uris == " ".join(LOOPBACK_URIS)


@pytest.mark.parametrize("uri", REFUSED_HTTP_URIS)
@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
def test_the_admin_refuses_http_to_any_other_host(admin_user: User, field: str, uri: str) -> None:
    fields = {"redirect_uris": LOOPBACK_URIS[0], field: uri}

    response = admin_add(admin_user, **fields)

    assert response.status_code == 200
    assert "loopback IP address" in str(response.context["adminform"].form.errors[field])
    assert not Application.objects.filter(name="Admin-made").exists()


# --- createapplication ---------------------------------------------------------------------


def createapplication(*args: str) -> str:
    out = StringIO()
    call_command("createapplication", *args, stdout=out)
    return out.getvalue()


def test_createapplication_registers_loopback_redirect_uris(db: Any) -> None:
    output = createapplication(
        "public",
        "authorization-code",
        "--name",
        "Desktop app",
        "--redirect-uris",
        " ".join(LOOPBACK_URIS),
    )

    assert "New application Desktop app created successfully." in output
    assert "client_secret: " in output
    application = Application.objects.get(name="Desktop app")
    assert application.redirect_uris == " ".join(LOOPBACK_URIS)
    created = AuditEvent.objects.get(type="oauth_client.created")
    assert created.subject_id == application.client_id


@pytest.mark.parametrize(
    "args",
    [
        *(["--redirect-uris", uri] for uri in REFUSED_HTTP_URIS),
        ["--redirect-uris", LOOPBACK_URIS[0], "--post-logout-redirect-uris", "http://example.com/"],
        [],  # the toolkit's own check: a code client needs a redirect URI
    ],
)
def test_createapplication_fails_when_the_application_is_refused(db: Any, args: list[str]) -> None:
    with pytest.raises(CommandError, match="Application refused"):
        createapplication("public", "authorization-code", "--name", "Refused", *args)

    assert not Application.objects.filter(name="Refused").exists()
    assert not AuditEvent.objects.filter(type="oauth_client.created").exists()
