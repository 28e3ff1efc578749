"""The downstream recipe (micro_client, docs/downstream.md) against real tokens.

Tokens come from every issuing path of the service; the JWKS is fetched from the service
itself, through the Django test client behind the fetch hook or over real HTTP (live_server).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from accounts.models import User
from authn.api_keys.services import api_key_create
from authn.models import SigningKey
from authn.tokens.signing_keys import signing_key_rotate
from micro_client import contract, drf
from micro_client.drf import HasScope, MicroJWTAuthentication
from micro_client.verifier import (
    CLI_CLIENT_ID,
    MICRO_SCOPES_IMPLIED_BY_API_ADMIN,
    InvalidToken,
    JwksCache,
    KeysUnavailable,
    MicroPrincipal,
    TokenVerifier,
    UpstreamTokenVerifier,
)
from micro_platform import identity as server_principal
from tests.authn.helpers import (
    JWKS_URL,
    TOKEN_URL,
    active_signing_key,
    assemble,
    b64url_decode_json,
    forge,
    password_login,
    public_key_pem,
    refresh,
    signing_input,
    valid_claims,
)
from tests.authn.oauth_helpers import DEVICE_GRANT, code_flow_tokens, device_decision, make_client
from tests.authn.oauth_helpers import TOKEN_URL as OAUTH_TOKEN_URL
from tests.authn.oauth_helpers import refresh as oauth_refresh
from tests.factories import MembershipFactory, ServiceAccountFactory

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "clients" / "python" / "src" / "micro_client"
VERIFY_URL = "/api/v1/auth/verify"
EXCHANGE_URL = "/api/v1/auth/token/exchange"
INTERVAL = 10.0


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ServiceJwks:
    """The fetch hook: GETs the service's JWKS through the test client, counting the URLs."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.down = False
        self.document: Any = None
        # A slow issuer: fetches signal `entered`, then wait for `release` (or 3 s) and
        # answer the last document (no database access from another thread).
        self.slow = False
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, url: str, timeout: float) -> Any:
        self.urls.append(url)
        if self.down:
            raise KeysUnavailable("the issuer is down")
        if self.slow:
            self.entered.set()
            self.release.wait(3)
            return self.document
        response = Client().get(JWKS_URL)
        assert response.status_code == 200
        self.document = response.json()
        return self.document


@pytest.fixture
def jwks() -> ServiceJwks:
    return ServiceJwks()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(db: Any, jwks: ServiceJwks, clock: FakeClock) -> TokenVerifier:
    cache = JwksCache(
        settings.MICRO_ISSUER + JWKS_URL,
        min_refetch_interval=INTERVAL,
        fetch=jwks,
        clock=clock,
    )
    return TokenVerifier(
        issuer=settings.MICRO_ISSUER, audience=settings.MICRO_TOKEN_AUDIENCE, jwks=cache
    )


@pytest.fixture
def upstream_verifier(db: Any, jwks: ServiceJwks, clock: FakeClock) -> UpstreamTokenVerifier:
    cache = JwksCache(
        settings.MICRO_ISSUER + JWKS_URL,
        min_refetch_interval=INTERVAL,
        fetch=jwks,
        clock=clock,
    )
    return UpstreamTokenVerifier(
        issuer=settings.MICRO_ISSUER, audience=settings.MICRO_UPSTREAM_TOKEN_AUDIENCE, jwks=cache
    )


def loopback_url(live_server: Any) -> str:
    """The live server's URL by its loopback address: keys are fetched over plain http only
    from a loopback IP literal (`localhost` is a name, refused)."""
    return str(live_server.url).replace("://localhost:", "://127.0.0.1:")


def assert_invalid(verifier: TokenVerifier, token: str) -> None:
    with pytest.raises(InvalidToken):
        verifier.claims(token)


# --- self-contained -------------------------------------------------------------------------


def test_a_copy_of_the_package_works_outside_the_project(tmp_path: Path) -> None:
    shutil.copytree(PACKAGE, tmp_path / "their_auth", ignore=shutil.ignore_patterns("__pycache__"))
    script = (
        "import sys\n"
        "sys.path.insert(0, '.')  # -I: only the copy and the installed libraries\n"
        "from django.conf import settings\n"
        "settings.configure(MICRO_ISSUER='https://id.example.com')\n"
        "import django; django.setup()\n"
        "from their_auth import TokenVerifier\n"
        "from their_auth.drf import MicroJWTAuthentication, verifier_from_settings\n"
        "assert verifier_from_settings().jwks.discovery_url == "
        "'https://id.example.com/.well-known/openid-configuration'\n"
        "ours = {'accounts', 'audit', 'authn', 'permissions', 'objects', 'rpc',"
        " 'micro_platform', 'micro_client'}\n"
        "print(sorted(ours & {name.split('.')[0] for name in sys.modules}))\n"
    )
    result = subprocess.run(  # noqa: S603 - our interpreter, a fixed script
        [sys.executable, "-I", "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- every issuing path ---------------------------------------------------------------------


def test_password_token_verifies_with_its_identity(
    user: User, password: str, verifier: TokenVerifier
) -> None:
    membership = MembershipFactory.create(user=user)
    pair = password_login(user, password)

    principal = verifier.principal(pair["access_token"])

    assert principal.user_id == user.pk and principal.pk == user.pk
    assert principal.username == user.username and principal.kind == "user"
    assert principal.group_ids == (membership.group_id,)
    assert principal.scopes == frozenset(pair["scope"].split())
    assert principal.client_id is None and principal.is_authenticated


def test_refreshed_token_verifies(user: User, password: str, verifier: TokenVerifier) -> None:
    response = refresh(password_login(user, password)["refresh_token"])
    assert response.status_code == 200

    assert verifier.principal(response.json()["access_token"]).user_id == user.pk


def test_api_key_exchange_token_verifies(user: User, verifier: TokenVerifier) -> None:
    minted = api_key_create(
        owner=user, name="k", scopes=("users:read",), expires_in_days=1, actor=None
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {minted.key}")
    response = client.post(EXCHANGE_URL)
    assert response.status_code == 200

    principal = verifier.principal(response.json()["access_token"])

    assert principal.user_id == user.pk and principal.scopes == frozenset({"users:read"})


def test_gateway_user_token_verifies(
    user: User, password: str, upstream_verifier: UpstreamTokenVerifier
) -> None:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {password_login(user, password)['access_token']}"
    )
    response = client.get(VERIFY_URL)
    assert response.status_code == 200

    principal = upstream_verifier.principal(response["X-User-Token"])

    assert str(principal.user_id) == response["X-User-Id"]
    assert " ".join(sorted(principal.scopes)) == response["X-User-Scopes"]
    assert principal.amr == () and principal.src_amr == ("pwd",)
    assert principal.via_gateway and not principal.is_personal_sign_in


def test_service_account_token_has_kind_service(verifier: TokenVerifier) -> None:
    account = ServiceAccountFactory.create(scopes=["users:read"])
    minted = api_key_create(
        owner=account, name="k", scopes=("users:read",), expires_in_days=1, actor=None
    )
    client = APIClient()
    client.credentials(HTTP_X_API_KEY=minted.key)

    principal = verifier.principal(client.post(EXCHANGE_URL).json()["access_token"])

    assert principal.kind == "service" and principal.user_id == account.pk


# --- OAuth 2.0: /o/token/ ---------------------------------------------------------------------


@pytest.fixture
def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_authorization_code_pkce_tokens(
    browser: Client, user: User, verifier: TokenVerifier
) -> None:
    client = make_client(name="Web app")
    tokens = code_flow_tokens(browser, client, scope="openid profile users:read")

    principal = verifier.principal(tokens["access_token"])

    assert principal.user_id == user.pk and principal.client_id == client.client_id
    assert principal.scopes == frozenset({"profile", "users:read"})
    # The ID token (typ JWT, audience the client) and the opaque refresh token are refused.
    assert_invalid(verifier, tokens["id_token"])
    assert_invalid(verifier, tokens["refresh_token"])

    refreshed = oauth_refresh(Client(), client, tokens["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    assert verifier.principal(refreshed.json()["access_token"]).client_id == client.client_id


def test_client_credentials_tokens(verifier: TokenVerifier, db: Any) -> None:
    out = io.StringIO()
    call_command(
        "createserviceaccount",
        "billing",
        "--scope",
        "users:read",
        "--oauth-client",
        "--json",
        stdout=out,
    )
    account = json.loads(out.getvalue().strip().splitlines()[-1])
    response = Client().post(
        OAUTH_TOKEN_URL,
        {
            "grant_type": "client_credentials",
            "client_id": account["client_id"],
            "client_secret": account["client_secret"],
        },
    )
    assert response.status_code == 200, response.content

    principal = verifier.principal(response.json()["access_token"])

    assert str(principal.user_id) == account["id"] and principal.kind == "service"
    assert principal.client_id == account["client_id"]
    assert principal.scopes == frozenset({"users:read"})


def test_device_code_tokens(browser: Client, user: User, verifier: TokenVerifier) -> None:
    started = (
        Client()
        .post(
            "/o/device-authorization/",
            urlencode({"client_id": "micro-cli", "scope": "openid profile users:read"}),
            content_type="application/x-www-form-urlencoded",
        )
        .json()
    )
    entered = browser.post("/o/device/", {"user_code": started["user_code"]})
    assert entered.status_code == 302, entered.content
    decision = device_decision(browser, entered["Location"])
    assert browser.post(entered["Location"], decision).status_code in (200, 302)
    response = Client().post(
        OAUTH_TOKEN_URL,
        {
            "grant_type": DEVICE_GRANT,
            "device_code": started["device_code"],
            "client_id": "micro-cli",
        },
    )
    assert response.status_code == 200, response.content

    principal = verifier.principal(response.json()["access_token"])

    assert principal.user_id == user.pk and principal.client_id == "micro-cli"


def test_revocation_is_invisible_offline_but_introspection_sees_it(
    browser: Client, verifier: TokenVerifier
) -> None:
    """docs/downstream.md's revocation caveat, as behaviour: what to call for high-value work."""
    client = make_client(name="Web app")
    access = code_flow_tokens(browser, client)["access_token"]
    revoked = Client().post("/o/revoke_token/", {"token": access, **client.credentials()})
    assert revoked.status_code == 200, revoked.content

    assert verifier.principal(access)  # offline: still valid until it expires
    bearer = APIClient()
    bearer.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert bearer.get("/api/v1/me").status_code == 401  # the service itself refuses it
    basic = base64.b64encode(f"{client.client_id}:{client.client_secret}".encode()).decode()
    answer = Client().post("/o/introspect/", {"token": access}, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert answer.status_code == 200, answer.content
    assert answer.json() == {"active": False}


# --- tokens that are not (valid) access tokens ----------------------------------------------


def test_id_token_shaped_jwt_is_rejected(user: User, verifier: TokenVerifier) -> None:
    assert_invalid(verifier, forge(valid_claims(user), headers={"typ": "JWT"}))


def test_refresh_token_is_rejected(user: User, password: str, verifier: TokenVerifier) -> None:
    assert_invalid(verifier, password_login(user, password)["refresh_token"])


@pytest.mark.parametrize(
    "override",
    [
        {"aud": "another-service"},
        {"iss": "https://elsewhere.example.com"},
        {"exp": int(time.time()) - 120},
        {"nbf": int(time.time()) + 600},
    ],
    ids=["wrong-aud", "wrong-iss", "expired", "not-yet-valid"],
)
def test_wrong_claims_are_rejected(
    user: User, verifier: TokenVerifier, override: dict[str, Any]
) -> None:
    assert verifier.claims(forge(valid_claims(user)))  # the same token, unchanged, is fine
    assert_invalid(verifier, forge(valid_claims(user, **override)))


def test_expiry_has_a_small_leeway_only(user: User, verifier: TokenVerifier) -> None:
    now = int(time.time())
    assert verifier.claims(forge(valid_claims(user, exp=now - 10)))
    assert_invalid(verifier, forge(valid_claims(user, exp=now - verifier.leeway - 5)))


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "iat", "jti"])
def test_each_required_claim_is_required(user: User, verifier: TokenVerifier, claim: str) -> None:
    assert_invalid(verifier, forge(valid_claims(user, **{claim: None})))


def test_alg_none_is_rejected(user: User, verifier: TokenVerifier) -> None:
    kid, _ = active_signing_key()
    assert_invalid(
        verifier, assemble({"alg": "none", "typ": "at+jwt", "kid": kid}, valid_claims(user))
    )


def test_hs256_with_the_public_key_as_secret_is_rejected(
    user: User, verifier: TokenVerifier
) -> None:
    pem = public_key_pem()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": active_signing_key()[0]}
    claims = valid_claims(user)
    signature = hmac.new(pem, signing_input(header, claims), hashlib.sha256).digest()
    assert_invalid(verifier, assemble(header, claims, signature))


def test_foreign_key_under_our_kid_is_rejected(user: User, verifier: TokenVerifier) -> None:
    foreign = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_invalid(verifier, forge(valid_claims(user), key=foreign))


def test_tampered_payload_is_rejected(user: User, verifier: TokenVerifier) -> None:
    header, _, signature = forge(valid_claims(user)).split(".")
    payload = forge(valid_claims(user, scope="api_admin")).split(".")[1]
    assert_invalid(verifier, f"{header}.{payload}.{signature}")


@pytest.mark.parametrize("member", ["jku", "x5u", "jwk", "x5c"])
def test_header_naming_key_material_is_rejected_without_fetching_it(
    user: User, verifier: TokenVerifier, jwks: ServiceJwks, member: str
) -> None:
    token = forge(valid_claims(user), headers={member: "https://attacker.example.com/keys"})
    assert_invalid(verifier, token)
    assert all("attacker" not in url for url in jwks.urls)


# --- the key cache --------------------------------------------------------------------------


def test_unknown_kid_refetches_once_then_rejects(
    user: User, verifier: TokenVerifier, jwks: ServiceJwks, clock: FakeClock
) -> None:
    verifier.claims(forge(valid_claims(user)))
    assert len(jwks.urls) == 1

    assert_invalid(verifier, forge(valid_claims(user), kid="no-such-kid"))
    assert len(jwks.urls) == 2
    assert_invalid(verifier, forge(valid_claims(user), kid="no-such-kid"))
    assert len(jwks.urls) == 2  # within the interval: no second refetch

    clock.now += INTERVAL
    assert_invalid(verifier, forge(valid_claims(user), kid="no-such-kid"))
    assert len(jwks.urls) == 3


def test_an_unknown_kid_on_a_cold_cache_costs_one_fetch(
    user: User, verifier: TokenVerifier, jwks: ServiceJwks
) -> None:
    """The first fetch just happened: fetching again at once for the same kid learns nothing."""
    assert_invalid(verifier, forge(valid_claims(user), kid="no-such-kid"))
    assert len(jwks.urls) == 1


def test_the_scopes_api_admin_implies_match_the_services_catalogue() -> None:
    """The service's catalogue names exactly the contract's scopes, which the verifier uses."""
    from micro_platform import scopes

    assert scopes.implied({scopes.API_ADMIN}) - {scopes.API_ADMIN} == (
        MICRO_SCOPES_IMPLIED_BY_API_ADMIN
    )
    assert frozenset(scopes.BUILT_IN_SCOPES) == contract.ALL_SCOPES


def test_a_flood_of_bogus_kids_costs_one_fetch_per_interval(
    user: User, verifier: TokenVerifier, jwks: ServiceJwks, clock: FakeClock
) -> None:
    token = forge(valid_claims(user))
    verifier.claims(token)
    header, payload, signature = token.split(".")
    for n in range(600):  # one a 50 ms: 30 s of flood
        clock.now += 0.05
        bogus = assemble({"alg": "RS256", "typ": "at+jwt", "kid": f"bogus-{n}"}, {"sub": "x"})
        assert_invalid(verifier, bogus)
    assert len(jwks.urls) == 1 + 3  # the first fetch, then one forced refetch per 10 s
    assert verifier.claims(token)  # genuine tokens kept verifying throughout


def test_keys_are_refetched_after_max_age(
    user: User, verifier: TokenVerifier, jwks: ServiceJwks, clock: FakeClock
) -> None:
    token = forge(valid_claims(user))
    verifier.claims(token)
    clock.now += verifier.jwks.max_age - 1
    verifier.claims(token)
    assert len(jwks.urls) == 1
    clock.now += 1
    verifier.claims(token)
    assert len(jwks.urls) == 2


def test_rotation_new_key_is_picked_up_and_retired_key_still_verifies(
    user: User,
    password: str,
    verifier: TokenVerifier,
    jwks: ServiceJwks,
    django_capture_on_commit_callbacks: Any,
) -> None:
    old_token = password_login(user, password)["access_token"]
    verifier.claims(old_token)
    with django_capture_on_commit_callbacks(execute=True):
        new_kid = signing_key_rotate(actor=None).kid
    new_token = password_login(user, password)["access_token"]
    assert b64url_decode_json(new_token.split(".")[0])["kid"] == new_kid

    assert verifier.principal(new_token).user_id == user.pk  # one refetch on the unknown kid
    assert verifier.principal(old_token).user_id == user.pk  # retired, still published
    assert len(jwks.urls) == 2


def test_key_no_longer_published_stops_verifying_after_a_refetch(
    user: User, verifier: TokenVerifier, clock: FakeClock, django_capture_on_commit_callbacks: Any
) -> None:
    old_token = forge(valid_claims(user))
    verifier.claims(old_token)
    with django_capture_on_commit_callbacks(execute=True):
        signing_key_rotate(actor=None)
    SigningKey.objects.filter(status=SigningKey.Status.RETIRED).update(publish_until=timezone.now())
    clock.now += verifier.jwks.max_age

    assert_invalid(verifier, old_token)


def test_issuer_outage_keeps_the_cached_keys_for_max_stale(
    user: User, verifier: TokenVerifier, jwks: ServiceJwks, clock: FakeClock
) -> None:
    token = forge(valid_claims(user))
    verifier.claims(token)
    jwks.down = True
    clock.now += verifier.jwks.max_age + 1
    assert verifier.claims(token)
    attempts = len(jwks.urls)
    assert verifier.claims(token)
    assert len(jwks.urls) == attempts  # a down issuer is retried once per interval, not per call

    clock.now += verifier.jwks.max_stale
    with pytest.raises(KeysUnavailable):
        verifier.claims(token)


def test_a_slow_refetch_does_not_hold_up_tokens_whose_key_is_cached(
    user: User, verifier: TokenVerifier, jwks: ServiceJwks, clock: FakeClock
) -> None:
    token = forge(valid_claims(user))
    verifier.claims(token)
    clock.now += verifier.jwks.max_age  # the next call refetches
    jwks.slow = True
    background = threading.Thread(target=verifier.claims, args=(token,))
    background.start()
    assert jwks.entered.wait(5)

    started = time.monotonic()
    assert verifier.claims(token)  # the key is cached: no queueing behind the slow fetch
    assert time.monotonic() - started < 1

    jwks.release.set()
    background.join(5)
    assert len(jwks.urls) == 2


def test_no_keys_at_all_is_keys_unavailable(
    user: User, verifier: TokenVerifier, jwks: ServiceJwks
) -> None:
    jwks.down = True
    with pytest.raises(KeysUnavailable):
        verifier.claims(forge(valid_claims(user)))


def test_default_fetch_over_real_http(live_server: Any, user: User, password: str) -> None:
    response = requests.post(
        live_server.url + TOKEN_URL,
        json={"username": user.username, "password": password},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    verifier = TokenVerifier(
        issuer=settings.MICRO_ISSUER,
        audience=settings.MICRO_TOKEN_AUDIENCE,
        jwks_url=loopback_url(live_server) + JWKS_URL,
    )

    assert verifier.principal(response.json()["access_token"]).user_id == user.pk
    assert verifier.jwks.fetches == 1


def test_the_services_discovery_document_leads_the_verifier_to_its_keys(
    user: User, password: str
) -> None:
    urls: list[str] = []

    def fetch(url: str, timeout: float) -> Any:
        urls.append(url)
        response = Client().get(urlsplit(url).path)
        assert response.status_code == 200
        return response.json()

    cache = JwksCache(issuer=settings.MICRO_ISSUER, fetch=fetch)
    verifier = TokenVerifier(
        issuer=settings.MICRO_ISSUER, audience=settings.MICRO_TOKEN_AUDIENCE, jwks=cache
    )

    assert verifier.principal(password_login(user, password)["access_token"]).user_id == user.pk
    assert urls == [
        settings.MICRO_ISSUER + contract.DISCOVERY_PATH,
        settings.MICRO_ISSUER + contract.JWKS_PATH,
    ]


def test_the_recipe_in_the_docs_runs_as_written(
    live_server: Any, user: User, password: str
) -> None:
    document = (REPO / "docs" / "downstream.md").read_text()
    code = re.findall(r"```python\n(.*?)```", document, re.DOTALL)[0]
    configured = code.replace(
        'ISSUER = "https://id.example.com"', f"ISSUER = {settings.MICRO_ISSUER!r}"
    ).replace(
        'JWKS_URL = ISSUER + "/.well-known/jwks.json"',
        f"JWKS_URL = {live_server.url + JWKS_URL!r}",
    )
    assert configured.count(live_server.url) == 1 and settings.MICRO_ISSUER in configured
    namespace: dict[str, Any] = {}
    exec(compile(configured, "docs/downstream.md", "exec"), namespace)  # noqa: S102 - our docs
    verify = namespace["verify"]
    token = requests.post(
        live_server.url + TOKEN_URL,
        json={"username": user.username, "password": password},
        timeout=10,
    ).json()["access_token"]

    assert verify(token)["sub"] == str(user.pk)
    with pytest.raises(jwt.InvalidTokenError):
        verify(forge(valid_claims(user), headers={"typ": "JWT"}))
    with pytest.raises(jwt.InvalidTokenError):
        verify(forge(valid_claims(user, aud="another-service")))


# --- the DRF class --------------------------------------------------------------------------


class ScopedView(APIView):
    authentication_classes = [MicroJWTAuthentication]
    permission_classes = [HasScope]
    required_scopes: tuple[str, ...] = ("users:read",)

    def get(self, request: Any) -> Response:
        user = request.user
        assert isinstance(user, MicroPrincipal)
        return Response(
            {
                "id": str(user.id),
                "groups": [str(group) for group in user.group_ids],
                "jti": request.auth["jti"],
            }
        )


class WriteView(ScopedView):
    permission_classes = [HasScope.of("users:write")]
    required_scopes = ()


def call(view: type[APIView], token: str | None = None) -> Response:
    request = APIRequestFactory().get("/thing")
    if token is not None:
        request.META["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    response = view.as_view()(request)
    response.render()
    return response


@pytest.fixture
def drf_verifier(monkeypatch: pytest.MonkeyPatch, verifier: TokenVerifier) -> TokenVerifier:
    monkeypatch.setattr(drf, "verifier_from_settings", lambda: verifier)
    return verifier


def test_drf_class_allows_a_valid_token_without_a_query(
    user: User, drf_verifier: TokenVerifier, django_assert_num_queries: Callable[..., Any]
) -> None:
    membership = MembershipFactory.create(user=user)
    token = forge(valid_claims(user, groups=[str(membership.group_id)]))
    drf_verifier.claims(token)  # the JWKS is fetched once per process, not per request

    with django_assert_num_queries(0):
        response = call(ScopedView, token)

    assert response.status_code == 200
    assert response.data["id"] == str(user.pk)
    assert response.data["groups"] == [str(membership.group_id)]


@pytest.mark.parametrize("token", [None, "not-a-jwt", "mk_an-api-key"])
def test_drf_class_401_with_bearer_challenge(
    drf_verifier: TokenVerifier, token: str | None
) -> None:
    response = call(ScopedView, token)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_drf_class_401_for_a_rejected_token(user: User, drf_verifier: TokenVerifier) -> None:
    response = call(ScopedView, forge(valid_claims(user, aud="another-service")))
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_has_scope_403_when_missing_and_api_admin_implies_micro_scopes(
    user: User, drf_verifier: TokenVerifier
) -> None:
    refused = call(WriteView, forge(valid_claims(user, scope="users:read")))
    assert refused.status_code == 403
    assert refused.data["detail"] == "The credential lacks: users:write."
    assert refused.data["code"] == "insufficient_scope"  # as the WSGI/ASGI middleware says
    assert call(WriteView, forge(valid_claims(user, scope="users:write"))).status_code == 200
    assert call(WriteView, forge(valid_claims(user, scope="api_admin"))).status_code == 200
    admin = MicroPrincipal(user.pk, "a", "user", (), frozenset({"api_admin"}), None, "j", 0)
    assert not admin.has_scope("orders:write")  # the service's own scopes are not implied


def test_drf_class_503_when_the_keys_cannot_be_fetched(
    user: User, drf_verifier: TokenVerifier, jwks: ServiceJwks
) -> None:
    jwks.down = True
    assert call(ScopedView, forge(valid_claims(user))).status_code == 503


def test_drf_class_from_settings_over_real_http(
    live_server: Any, user: User, password: str, settings: Any
) -> None:
    settings.MICRO_JWKS_URL = loopback_url(live_server) + JWKS_URL
    token = requests.post(
        live_server.url + TOKEN_URL,
        json={"username": user.username, "password": password},
        timeout=10,
    ).json()["access_token"]

    response = call(ScopedView, token)

    assert response.status_code == 200 and response.data["id"] == str(user.pk)
    assert drf.verifier_from_settings().jwks.url == loopback_url(live_server) + JWKS_URL


# --- A misconfigured verifier fails loudly, before any token is checked ----------------------


@pytest.mark.parametrize(
    "authentication", [drf.MicroJWTAuthentication, drf.MicroUpstreamTokenAuthentication]
)
def test_the_drf_classes_refuse_a_plain_http_jwks_url_when_built(
    settings: Any, authentication: type
) -> None:
    settings.MICRO_JWKS_URL = "http://keys.example.com/.well-known/jwks.json"

    with pytest.raises(ImproperlyConfigured, match="MICRO_JWKS_URL"):
        authentication()


@pytest.mark.parametrize(
    "authentication", [drf.MicroJWTAuthentication, drf.MicroUpstreamTokenAuthentication]
)
def test_the_drf_classes_need_an_issuer(settings: Any, authentication: type) -> None:
    settings.MICRO_ISSUER = ""

    with pytest.raises(ImproperlyConfigured, match="MICRO_ISSUER"):
        authentication()


def test_the_system_checks_report_a_plain_http_jwks_url(settings: Any) -> None:
    assert drf.check_verifier_settings in checks.registry.registry.get_checks()
    assert drf.check_verifier_settings() == []

    settings.MICRO_JWKS_URL = "http://keys.example.com/.well-known/jwks.json"

    assert [error.id for error in drf.check_verifier_settings()] == ["micro_downstream.E001"]


# --- The verifier's copies of the service's rules stay equal to them -------------------------


def test_the_verifier_names_the_same_cli_client_as_the_service() -> None:
    """Both take it from the contract; the service's migration registered that client."""
    assert CLI_CLIENT_ID == contract.CLI_CLIENT_ID == "micro-cli"


@pytest.mark.parametrize(
    "amr", [(), ("pwd",), ("pwd", "otp"), ("api_key",), ("otp",), ("api_key", "pwd")]
)
@pytest.mark.parametrize("client_id", [None, "micro-cli", "someones-app", ""])
def test_is_personal_sign_in_matches_the_services_rule(amr: tuple, client_id: str | None) -> None:
    user_id = uuid.uuid4()
    service = server_principal.Principal(
        user_id=user_id,
        username="u",
        kind="user",
        group_ids=(),
        scopes=frozenset(),
        method="jwt",
        amr=amr,
        client_id=client_id,
    )
    downstream = MicroPrincipal(
        user_id=user_id,
        username="u",
        kind="user",
        group_ids=(),
        scopes=frozenset(),
        client_id=client_id,
        jti="j",
        expires_at=0,
        amr=amr,
    )

    assert downstream.is_personal_sign_in == service.is_personal_sign_in
