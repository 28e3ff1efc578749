"""The gateway's upstream token (`X-User-Token`): an assertion for the services behind the
gateway, never a credential of this service, and revoked with whatever it derives from."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.test import Client
from rest_framework.response import Response
from rest_framework.test import APIClient, APIRequestFactory
from rest_framework.views import APIView

from accounts.models import User
from authn.api_keys.services import api_key_create, api_key_revoke
from authn.gateway.apis import user_tokens
from authn.models import DashboardSession
from authn.sessions.store import dashboard_sessions_delete
from authn.tokens.authentication import verified_tokens
from micro_client import drf
from micro_client.verifier import (
    InvalidToken,
    JwksCache,
    MicroPrincipal,
    TokenVerifier,
    UpstreamTokenVerifier,
)
from micro_client.verifier import principal_from_claims as downstream_principal_from_claims
from tests.authn.helpers import JWKS_URL, password_login
from tests.authn.oauth_helpers import OAuthClient, code_flow_tokens
from tests.conftest import token_for

VERIFY = "/api/v1/auth/verify"
INTROSPECT = "/o/introspect/"


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    user_tokens.clear()
    verified_tokens.clear()
    yield
    user_tokens.clear()
    verified_tokens.clear()


def bearer_client(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def upstream_token(client: APIClient) -> str:
    response = client.get(VERIFY)
    assert response.status_code == 200
    return str(response["X-User-Token"])


def admin_upstream_token(admin_user: User, password: str) -> str:
    return upstream_token(bearer_client(password_login(admin_user, password)["access_token"]))


def fetch_jwks(url: str, timeout: float) -> Any:
    return Client().get(JWKS_URL).json()


def verifier(kind: type[TokenVerifier], audience: str) -> TokenVerifier:
    jwks = JwksCache(settings.MICRO_ISSUER + JWKS_URL, fetch=fetch_jwks)
    return kind(issuer=settings.MICRO_ISSUER, audience=audience, jwks=jwks)


def introspect(client: OAuthClient, token: str, hint: str | None = None) -> dict[str, Any]:
    raw = f"{client.client_id}:{client.client_secret}".encode()
    body = {"token": token, **({"token_type_hint": hint} if hint else {})}
    response = Client().post(
        INTROSPECT, body, HTTP_AUTHORIZATION="Basic " + base64.b64encode(raw).decode()
    )
    assert response.status_code == 200
    return dict(response.json())


# --- What it is ------------------------------------------------------------------------------


def test_upstream_token_has_its_own_type_audience_and_sid(user: User, password: str) -> None:
    signed_in = password_login(user, password)
    token = upstream_token(bearer_client(signed_in["access_token"]))
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    parent = jwt.decode(signed_in["access_token"], options={"verify_signature": False})
    assert header["typ"] == "user+jwt"
    assert claims["aud"] == settings.MICRO_UPSTREAM_TOKEN_AUDIENCE != settings.MICRO_TOKEN_AUDIENCE
    assert claims["sid"] == parent["sid"] and claims["parent_jti"] == parent["jti"]
    assert claims["jti"] != parent["jti"]


def test_upstream_token_amr_is_empty_and_the_callers_methods_are_in_src_amr(
    user: User, password: str
) -> None:
    # A service in any language checking "pwd" in amr must never take it for a sign-in.
    access = password_login(user, password)["access_token"]
    key = api_key_create(owner=user, name="k", scopes=["profile"], actor=None).key

    signed_in = jwt.decode(
        upstream_token(bearer_client(access)), options={"verify_signature": False}
    )
    by_key = jwt.decode(upstream_token(bearer_client(key)), options={"verify_signature": False})

    assert signed_in["amr"] == [] and signed_in["src_amr"] == ["pwd"]
    assert by_key["amr"] == [] and by_key["src_amr"] == ["api_key"]


def test_upstream_token_carries_its_issue_instant_in_microseconds(
    user: User, password: str
) -> None:
    """A user's revocation is recorded to the microsecond: an upstream token minted after it,
    in the same second, must not count as issued at the start of that second."""
    access = password_login(user, password)["access_token"]

    claims = jwt.decode(upstream_token(bearer_client(access)), options={"verify_signature": False})

    assert claims["iat_us"] // 1_000_000 == claims["iat"]


# --- Refused by every path of this service ---------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/api-keys"),
        ("get", "/api/v1/me"),
        ("post", "/api/v1/auth/token/exchange"),
        ("get", VERIFY),
        ("post", "/api/v1/auth/logout-all"),
        ("get", "/o/userinfo/"),
    ],
)
def test_upstream_token_is_refused_as_a_credential(
    admin_user: User, password: str, method: str, path: str
) -> None:
    token = admin_upstream_token(admin_user, password)
    body = {"name": "x", "scopes": ["profile"]} if path.endswith("api-keys") else None

    response = getattr(bearer_client(token), method)(path, body, format="json")

    assert response.status_code == 401


def test_an_admins_upstream_token_is_not_api_admin_here(admin_user: User, password: str) -> None:
    token = admin_upstream_token(admin_user, password)
    assert "api_admin" in jwt.decode(token, options={"verify_signature": False})["scope"].split()

    for path in ("/api/v1/audit-events", "/api/v1/users"):
        assert bearer_client(token).get(path).status_code == 401
    assert APIClient().get(VERIFY, HTTP_X_API_KEY=token).status_code == 401


def test_upstream_token_is_no_grant_at_the_oauth_token_endpoint(
    user: User, password: str, web_client: OAuthClient
) -> None:
    token = upstream_token(bearer_client(password_login(user, password)["access_token"]))
    as_refresh = Client().post(
        "/o/token/",
        {"grant_type": "refresh_token", "refresh_token": token, **web_client.credentials()},
    )
    as_client = Client().post(
        "/o/token/", {"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert as_refresh.status_code == 400 and as_refresh.json()["error"] == "invalid_grant"
    assert as_client.status_code == 401


def test_introspection_of_an_upstream_token_as_an_access_token_is_inactive(
    user: User, web_client: OAuthClient
) -> None:
    token = upstream_token(bearer_client(token_for(user)))
    assert introspect(web_client, token) == {"active": False}
    assert introspect(web_client, token, hint="access_token") == {"active": False}


# --- Revocation reaches it (introspection with its own hint) ---------------------------------


def test_introspection_with_the_upstream_hint_answers_for_a_live_one_only(
    user: User, web_client: OAuthClient
) -> None:
    access = token_for(user)
    token = upstream_token(bearer_client(access))

    answer = introspect(web_client, token, hint="upstream_token")

    assert answer["active"] is True and answer["token_type"] == "upstream_token"
    assert answer["sub"] == str(user.pk)
    assert answer["aud"] == settings.MICRO_UPSTREAM_TOKEN_AUDIENCE
    # The hint never makes an access token pass for an upstream token.
    assert introspect(web_client, access, hint="upstream_token") == {"active": False}


def test_revoking_the_access_token_revokes_its_upstream_tokens(
    user: User, web_client: OAuthClient
) -> None:
    access = token_for(user)
    token = upstream_token(bearer_client(access))

    revoked = bearer_client(access).post("/api/v1/auth/token/revoke", {"token": access})
    assert revoked.status_code in (200, 204)
    assert introspect(web_client, token, hint="upstream_token") == {"active": False}


def test_logout_all_revokes_the_upstream_tokens_of_the_sign_in(
    user: User, password: str, web_client: OAuthClient
) -> None:
    other_sign_in = password_login(user, password)["access_token"]
    token = upstream_token(bearer_client(other_sign_in))

    session = APIClient()
    session.force_login(user)
    assert session.post("/api/v1/auth/logout-all").status_code in (200, 204)

    assert introspect(web_client, token, hint="upstream_token") == {"active": False}


def test_revoking_an_api_key_revokes_its_upstream_tokens(
    user: User, web_client: OAuthClient
) -> None:
    minted = api_key_create(owner=user, name="gw", scopes=("profile",), actor=None)
    token = upstream_token(bearer_client(minted.key))
    assert jwt.decode(token, options={"verify_signature": False})["sid"] == str(minted.api_key.pk)

    api_key_revoke(api_key=minted.api_key, actor=None)

    assert introspect(web_client, token, hint="upstream_token") == {"active": False}


def test_ending_a_dashboard_session_revokes_its_upstream_tokens(
    user: User, session_client: Callable[[User], APIClient], web_client: OAuthClient
) -> None:
    first, second = session_client(user), session_client(user)
    token, other = upstream_token(first), upstream_token(second)
    sid = jwt.decode(token, options={"verify_signature": False})["sid"]
    assert token != other  # the per-process cache keys on the session too

    dashboard_sessions_delete(DashboardSession.objects.filter(pk=sid))

    assert introspect(web_client, token, hint="upstream_token") == {"active": False}
    assert introspect(web_client, other, hint="upstream_token")["active"] is True


def test_signing_out_of_the_dashboard_revokes_its_upstream_tokens(
    user: User, session_client: Callable[[User], APIClient], web_client: OAuthClient
) -> None:
    browser = session_client(user)
    token = upstream_token(browser)
    browser.get("/accounts/login/")  # a CSRF cookie for the sign-out form
    csrf = browser.cookies[settings.CSRF_COOKIE_NAME].value

    signed_out = browser.post("/accounts/logout/", HTTP_X_CSRFTOKEN=csrf)

    assert signed_out.status_code == 302
    assert introspect(web_client, token, hint="upstream_token") == {"active": False}


def test_revoking_an_oauth_token_revokes_its_upstream_tokens(
    browser: Client, web_client: OAuthClient
) -> None:
    access = code_flow_tokens(browser, web_client)["access_token"]
    token = upstream_token(bearer_client(access))

    revoked = Client().post("/o/revoke_token/", {"token": access, **web_client.credentials()})

    assert revoked.status_code == 200
    assert introspect(web_client, token, hint="upstream_token") == {"active": False}


# --- The downstream verifiers never confuse the two kinds ------------------------------------


def test_the_access_token_verifier_refuses_an_upstream_token_and_vice_versa(
    admin_user: User, password: str
) -> None:
    access = password_login(admin_user, password)["access_token"]
    token = upstream_token(bearer_client(access))
    access_verifier = verifier(TokenVerifier, settings.MICRO_TOKEN_AUDIENCE)
    upstream_verifier = verifier(UpstreamTokenVerifier, settings.MICRO_UPSTREAM_TOKEN_AUDIENCE)

    with pytest.raises(InvalidToken):
        access_verifier.claims(token)
    with pytest.raises(InvalidToken):
        upstream_verifier.claims(access)
    # Even a verifier given the other kind's audience checks the kind itself.
    with pytest.raises(InvalidToken):
        verifier(TokenVerifier, settings.MICRO_UPSTREAM_TOKEN_AUDIENCE).claims(token)
    assert access_verifier.principal(access).user_id == admin_user.pk


def test_an_upstream_principal_is_never_a_persons_sign_in(user: User, password: str) -> None:
    access = password_login(user, password)["access_token"]
    token = upstream_token(bearer_client(access))

    principal = verifier(UpstreamTokenVerifier, settings.MICRO_UPSTREAM_TOKEN_AUDIENCE).principal(
        token
    )

    assert principal.amr == () and principal.src_amr == ("pwd",) and principal.via_gateway
    assert not principal.is_personal_sign_in
    # Its verified claims turned into a principal without the verifier's flag: still not.
    claims = verifier(UpstreamTokenVerifier, settings.MICRO_UPSTREAM_TOKEN_AUDIENCE).claims(token)
    assert not downstream_principal_from_claims(claims).is_personal_sign_in
    access_principal = verifier(TokenVerifier, settings.MICRO_TOKEN_AUDIENCE).principal(access)
    assert access_principal.is_personal_sign_in and not access_principal.via_gateway


class BehindGatewayView(APIView):
    authentication_classes = [drf.MicroUpstreamTokenAuthentication]
    permission_classes = [drf.HasScope.of("profile")]

    def get(self, request: Any) -> Response:
        user = request.user
        assert isinstance(user, MicroPrincipal)
        return Response({"id": str(user.id), "personal": user.is_personal_sign_in})


class DirectView(BehindGatewayView):
    authentication_classes = [drf.MicroJWTAuthentication]


@pytest.fixture
def drf_verifiers(monkeypatch: pytest.MonkeyPatch, db: Any) -> None:
    access = verifier(TokenVerifier, settings.MICRO_TOKEN_AUDIENCE)
    upstream = verifier(UpstreamTokenVerifier, settings.MICRO_UPSTREAM_TOKEN_AUDIENCE)
    monkeypatch.setattr(drf, "verifier_from_settings", lambda: access)
    monkeypatch.setattr(drf, "upstream_verifier_from_settings", lambda: upstream)


def drf_call(view: type[APIView], **headers: str) -> Response:
    request = APIRequestFactory().get("/thing", None, **headers)
    response = view.as_view()(request)
    response.render()
    return response


def test_drf_upstream_class_allows_the_upstream_token_as_a_gateway_assertion(
    user: User, password: str, drf_verifiers: None
) -> None:
    token = upstream_token(bearer_client(password_login(user, password)["access_token"]))

    response = drf_call(BehindGatewayView, HTTP_X_USER_TOKEN=token)

    assert response.status_code == 200
    assert response.data == {"id": str(user.pk), "personal": False}


def test_drf_upstream_class_refuses_an_access_token_and_anonymous(
    user: User, password: str, drf_verifiers: None
) -> None:
    access = password_login(user, password)["access_token"]
    assert drf_call(BehindGatewayView, HTTP_X_USER_TOKEN=access).status_code == 401
    assert drf_call(BehindGatewayView, HTTP_AUTHORIZATION=f"Bearer {access}").status_code == 401
    assert drf_call(BehindGatewayView).status_code == 401


def test_drf_access_token_class_refuses_the_upstream_token(
    user: User, password: str, drf_verifiers: None
) -> None:
    access = password_login(user, password)["access_token"]
    token = upstream_token(bearer_client(access))

    assert drf_call(DirectView, HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    allowed = drf_call(DirectView, HTTP_AUTHORIZATION=f"Bearer {access}")
    assert allowed.status_code == 200 and allowed.data["personal"] is True
