"""Real upstream providers for the federation tests, and what drives their sign-in pages.

- `oidc_provider`: npm `oidc-provider` (panva's, OpenID Certified) started by node on a loopback
  port for the session (tests/federation/provider/provider.mjs; `make federation-deps` installs
  it from its lock file). Misbehaviour switches (`wrong_nonce`, `rotate_keys`) go through its
  test-only control endpoints; `reset` after each test turns them off.
- `provider_sign_in`: plain HTTP (requests) from an authorize URL, through the provider's
  sign-in form, to the callback URL carrying the code; `micro_sign_in` does the same through
  another Micro instance's login and consent pages.
- `upstream_micro`: a second Micro instance under gunicorn (tests/clients/live_server.py) with
  an OpenID Connect client for this one and users with verified emails.

A missing node, npm package or Chromium skips these tests locally and fails them under CI=true
(tests.conftest.require_component).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests
from django.test import Client

from accounts.models import User
from authn.federation import client as federation_client
from bench import procs
from tests.clients.live_server import LiveServer, OidcRelyingParty, live_server
from tests.conftest import require_component
from tests.load.harness import Server

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
PROVIDER_SCRIPT = PROVIDER_DIR / "provider.mjs"
PROVIDER_PACKAGE = PROVIDER_DIR / "node_modules" / "oidc-provider" / "package.json"
PROVIDER_PASSWORD = "correct horse battery staple"  # every test user's, as in provider.mjs
PROVIDER_CLIENT_ID = "micro"
STARTUP_TIMEOUT_S = 20.0
HTTP_TIMEOUT_S = 10.0
MAX_HOPS = 12

# The provider's users (provider.mjs): username -> (sub, email).
VERIFIED = "verified"
UNVERIFIED = "unverified"
MFA = "mfa"
SUBJECTS = {
    VERIFIED: "a5c1d6e0-verified",
    UNVERIFIED: "b7e2f9a1-unverified",
    MFA: "c9f4a2b3-mfa",
}
EMAILS = {
    VERIFIED: "verified@idp.example",
    UNVERIFIED: "unverified@idp.example",
    MFA: "mfa@idp.example",
}

# This service's address in the tests that drive it with Django's test client: a loopback IP,
# so another Micro instance accepts its redirect URI (http only to loopback addresses).
LOCAL_HOST = "127.0.0.1:8000"


@pytest.fixture(autouse=True)
def _fresh_federation_clients() -> Iterator[None]:
    """Each test builds its providers' Authlib clients anew (they are cached per process)."""
    federation_client.clients_forget()
    yield
    federation_client.clients_forget()


def local_client() -> Client:
    """A browser of this service at a loopback address (the callback registered upstream)."""
    return Client(HTTP_HOST=LOCAL_HOST)


def signed_in_user(client: Client) -> User | None:
    user_id = client.session.get("_auth_user_id")
    return User.objects.get(pk=user_id) if user_id else None


class ProviderError(RuntimeError):
    """The test provider could not be started, or refused a control request."""


def provider_available() -> bool:
    return shutil.which("node") is not None and PROVIDER_PACKAGE.exists()


@dataclass
class OidcProvider:
    """A running oidc-provider: its issuer, the client registered for this service, and its
    control endpoints."""

    issuer: str
    client_id: str
    client_secret: str
    process: subprocess.Popen[bytes]
    log: Path
    redirect_uris: set[str] = field(default_factory=set)

    def control(self, action: str, **body: Any) -> dict[str, Any]:
        request = urllib.request.Request(  # noqa: S310 - the loopback issuer started above
            f"{self.issuer}/control/{action}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
                return dict(json.load(response))
        except urllib.error.URLError as exc:
            raise ProviderError(f"control/{action} failed: {exc}") from exc

    def register_redirect_uri(self, uri: str) -> None:
        if uri not in self.redirect_uris:
            self.control("redirect-uris", redirect_uri=uri)
            self.redirect_uris.add(uri)

    def wrong_nonce(self) -> None:
        """The next ID token carries a nonce the client did not send."""
        self.control("wrong-nonce")

    def rotate_keys(self) -> str:
        """A new signing key; the old one leaves the JWKS. Returns the new kid."""
        return str(self.control("rotate-keys")["kid"])

    def reset(self) -> None:
        self.control("reset")

    def stop(self) -> None:
        procs.stop_process(self.process)


def _discovery_ready(issuer: str) -> bool:
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
            return int(response.status) == 200 and json.load(response)["issuer"] == issuer
    except (OSError, ValueError, KeyError):
        return False


@contextmanager
def running_provider(workdir: Path) -> Iterator[OidcProvider]:
    """oidc-provider on a free loopback port until the block ends (skips or, under CI, fails
    without node or the installed package)."""
    require_component(
        provider_available(),
        "node and tests/federation/provider's npm packages (make federation-deps)",
    )
    port = procs.free_port()
    secret = secrets.token_urlsafe(24)
    log = workdir / f"oidc-provider-{port}.log"
    command = [
        shutil.which("node") or "node",
        str(PROVIDER_SCRIPT),
        f"--port={port}",
        f"--client-id={PROVIDER_CLIENT_ID}",
        f"--client-secret={secret}",
    ]
    env = {**os.environ, "NODE_ENV": "test"}
    with log.open("wb") as output:
        process = subprocess.Popen(  # noqa: S603 - node running the script of this folder
            command,
            cwd=PROVIDER_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    provider = OidcProvider(
        issuer=f"http://127.0.0.1:{port}",
        client_id=PROVIDER_CLIENT_ID,
        client_secret=secret,
        process=process,
        log=log,
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not _discovery_ready(provider.issuer):
            if process.poll() is not None:
                raise ProviderError(f"oidc-provider exited:\n{procs.read_tail(log)}")
            if time.monotonic() > deadline:
                raise ProviderError(f"oidc-provider did not start:\n{procs.read_tail(log)}")
            time.sleep(0.1)
        yield provider
    finally:
        provider.stop()


@pytest.fixture(scope="session")
def _session_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with running_provider(tmp_path_factory.mktemp("oidc-provider")) as provider:
        yield provider


@pytest.fixture
def oidc_provider(_session_provider: OidcProvider) -> Iterator[OidcProvider]:
    """The session's provider, its misbehaviour switches off after each test."""
    yield _session_provider
    _session_provider.reset()


# --- Driving sign-in pages over plain HTTP --------------------------------------------------


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class LoopbackSession(requests.Session):
    """Sends Secure cookies back to loopback addresses over http, as browsers do (a loopback
    address is a trustworthy origin): the production settings' `__Host-` session and CSRF
    cookies are Secure, and http.cookiejar would keep them to https."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        response = super().send(request, **kwargs)
        for cookie in self.cookies:
            if cookie.domain in LOOPBACK_HOSTS:
                cookie.secure = False
        return response


def http_session() -> requests.Session:
    return LoopbackSession()


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str]
    buttons: dict[str, str]


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "form":
            method = values.get("method", "get").lower()
            self.forms.append(Form(values.get("action", ""), method, {}, {}))
        elif self.forms and tag == "input" and "name" in values:
            if values.get("type") not in {"checkbox", "radio"} or "checked" in values:
                self.forms[-1].fields[values["name"]] = values.get("value", "")
        elif self.forms and tag == "button" and "name" in values:
            self.forms[-1].buttons[values["name"]] = values.get("value", "")


def forms_of(html: str) -> list[Form]:
    parser = _FormParser()
    parser.feed(html)
    return parser.forms


def _submit(
    session: requests.Session, page_url: str, form: Form, values: dict[str, str]
) -> requests.Response:
    url = urljoin(page_url, form.action or page_url)
    return session.post(
        url, data={**form.fields, **values}, allow_redirects=False, timeout=HTTP_TIMEOUT_S
    )


def _follow_until(
    session: requests.Session,
    url: str,
    redirect_uri: str,
    answer_page: Any,
) -> str:
    """Follows redirects from `url` until one leads to `redirect_uri` (returned with its
    query); a page on the way is answered by `answer_page(url, response)` (a response)."""
    response = session.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT_S)
    for _ in range(MAX_HOPS):
        if response.is_redirect:
            url = urljoin(url, response.headers["Location"])
            if url.split("?", 1)[0] == redirect_uri:
                return url
            response = session.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT_S)
            continue
        assert response.status_code == 200, (url, response.status_code, response.text[:500])
        response = answer_page(url, response)
    raise AssertionError(f"no redirect to {redirect_uri} after {MAX_HOPS} hops")


def redirect_uri_of(authorize_url: str) -> str:
    return parse_qs(urlsplit(authorize_url).query)["redirect_uri"][0]


def provider_sign_in(
    authorize_url: str,
    username: str,
    *,
    session: requests.Session | None = None,
    password: str = PROVIDER_PASSWORD,
) -> str:
    """Signs `username` in at the test provider from `authorize_url` (the redirect a start
    view answered); returns the callback URL with the code and state. A `session` that has
    signed in before comes back without the form."""
    session = session or http_session()

    def sign_in_form(url: str, response: requests.Response) -> requests.Response:
        (form, _cancel) = forms_of(response.text)
        return _submit(session, url, form, {"login": username, "password": password})

    return _follow_until(session, authorize_url, redirect_uri_of(authorize_url), sign_in_form)


def micro_sign_in(
    authorize_url: str,
    username: str,
    password: str,
    *,
    session: requests.Session | None = None,
) -> str:
    """The same through another Micro instance: its sign-in page, then its consent page."""
    session = session or http_session()

    def answer(url: str, response: requests.Response) -> requests.Response:
        forms = forms_of(response.text)
        for form in forms:
            if "password" in form.fields:  # the sign-in page
                return _submit(session, url, form, {"username": username, "password": password})
            if "allow" in form.buttons:  # the consent page
                return _submit(session, url, form, {"allow": form.buttons["allow"]})
        raise AssertionError(f"neither sign-in nor consent at {url}: {response.text[:1000]}")

    return _follow_until(session, authorize_url, redirect_uri_of(authorize_url), answer)


# --- A second Micro instance as the upstream ------------------------------------------------

UPSTREAM_USERS = (("ulla", "ulla@upstream.example"),)


@pytest.fixture(scope="session")
def upstream_micro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """Another Micro instance under gunicorn with a confidential OpenID Connect client whose
    redirect URI is this instance's callback on loopback, and users with verified emails
    (MICRO_LIVE_PASSWORD). Its database: a sibling of the suite's PostgreSQL one when
    DATABASE_URL names one, else a SQLite file of its own."""
    url = os.environ.get("DATABASE_URL", "")
    database = None
    if url.startswith(("postgres://", "postgresql://")):
        base = Server.parse(url)
        database = base.sibling(f"{base.name}_upstream")
        database.recreate()
    relying_party = OidcRelyingParty(
        # A loopback redirect URI matches any port at request time (RFC 8252).
        redirect_uris=("http://127.0.0.1/accounts/federation/upstream/callback/",),
        users=UPSTREAM_USERS,
    )
    folder = tmp_path_factory.mktemp("upstream-micro")
    try:
        database_url = database.url if database else None
        with live_server(folder, database_url=database_url, relying_party=relying_party) as server:
            yield server
    finally:
        if database is not None:
            database.drop()
