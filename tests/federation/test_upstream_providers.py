"""The upstream providers the federation tests sign in through, checked with a plain relying
party (Authlib's requests client and joserfc): the npm oidc-provider with its users, PKCE and
misbehaviour switches, and a second Micro instance as an OpenID provider (its discovery, JWKS
and ID tokens as a real relying party reads them)."""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import errors, jwt
from joserfc.jwk import KeySet

from tests.clients.live_server import LiveServer
from tests.federation.conftest import (
    EMAILS,
    HTTP_TIMEOUT_S,
    MFA,
    SUBJECTS,
    UNVERIFIED,
    VERIFIED,
    OidcProvider,
    http_session,
    micro_sign_in,
    provider_sign_in,
)

REDIRECT_URI = "http://127.0.0.1:9/relying-party/callback"


def _discovery(issuer: str) -> dict[str, Any]:
    response = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT_S)
    response.raise_for_status()
    return dict(response.json())


def _id_token_claims(
    id_token: str, metadata: dict[str, Any], *, client_id: str, nonce: str
) -> dict[str, Any]:
    """The ID token's claims once its signature (the issuer's JWKS), iss, aud, exp and nonce
    check out."""
    jwks = requests.get(metadata["jwks_uri"], timeout=HTTP_TIMEOUT_S).json()
    token = jwt.decode(id_token, KeySet.import_key_set(jwks), algorithms=["RS256"])
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": metadata["issuer"]},
        aud={"essential": True, "value": client_id},
        nonce={"essential": True, "value": nonce},
        exp={"essential": True},
    ).validate(token.claims)
    return dict(token.claims)


def _jwk_of(provider: OidcProvider, kid: str) -> dict[str, Any]:
    jwks = requests.get(f"{provider.issuer}/jwks", timeout=HTTP_TIMEOUT_S).json()
    return next(key for key in jwks["keys"] if key["kid"] == kid)


def _code_flow(
    issuer: str, client_id: str, client_secret: str, redirect_uri: str, scope: str
) -> tuple[OAuth2Session, dict[str, Any], str, str, str]:
    """The client, the discovery, the authorize URL, the PKCE verifier and the nonce."""
    metadata = _discovery(issuer)
    client = OAuth2Session(
        client_id,
        client_secret,
        scope=scope,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
    )
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
    url, _state = client.create_authorization_url(
        metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce
    )
    return client, metadata, url, verifier, nonce


def _sign_in_at_provider(
    provider: OidcProvider, username: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The token response and the validated ID token claims of `username`'s sign-in."""
    provider.register_redirect_uri(REDIRECT_URI)
    client, metadata, url, verifier, nonce = _code_flow(
        provider.issuer,
        provider.client_id,
        provider.client_secret,
        REDIRECT_URI,
        "openid email profile groups",
    )
    callback = provider_sign_in(url, username)
    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    claims = _id_token_claims(
        token["id_token"], metadata, client_id=provider.client_id, nonce=nonce
    )
    return dict(token), claims


@pytest.mark.parametrize(
    ("username", "verified", "amr"),
    [(VERIFIED, True, ["pwd"]), (UNVERIFIED, False, ["pwd"]), (MFA, True, ["pwd", "mfa"])],
)
def test_each_provider_user_gets_an_id_token_with_its_claims(
    oidc_provider: OidcProvider, username: str, verified: bool, amr: list[str]
) -> None:
    _token, claims = _sign_in_at_provider(oidc_provider, username)

    assert claims["sub"] == SUBJECTS[username]
    assert claims["email"] == EMAILS[username]
    assert claims["email_verified"] is verified
    assert claims["preferred_username"] == username
    assert claims["amr"] == amr
    assert isinstance(claims["groups"], list)


def test_the_provider_refuses_an_authorization_request_without_pkce(
    oidc_provider: OidcProvider,
) -> None:
    oidc_provider.register_redirect_uri(REDIRECT_URI)
    metadata = _discovery(oidc_provider.issuer)
    client = OAuth2Session(oidc_provider.client_id, scope="openid", redirect_uri=REDIRECT_URI)
    url, _state = client.create_authorization_url(metadata["authorization_endpoint"], nonce="n")

    response = requests.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT_S)

    assert response.status_code in {302, 303}
    assert "error=invalid_request" in response.headers["Location"]
    assert "requires+PKCE" in response.headers["Location"]


def test_the_wrong_nonce_switch_spoils_only_the_next_id_token(
    oidc_provider: OidcProvider,
) -> None:
    oidc_provider.wrong_nonce()

    with pytest.raises(errors.InvalidClaimError, match="nonce"):
        _sign_in_at_provider(oidc_provider, VERIFIED)
    _token, claims = _sign_in_at_provider(oidc_provider, VERIFIED)

    assert claims["sub"] == SUBJECTS[VERIFIED]


def test_rotating_the_providers_keys_replaces_the_kid_in_its_jwks(
    oidc_provider: OidcProvider,
) -> None:
    jwks_uri = _discovery(oidc_provider.issuer)["jwks_uri"]
    before = {key["kid"] for key in requests.get(jwks_uri, timeout=HTTP_TIMEOUT_S).json()["keys"]}

    kid = oidc_provider.rotate_keys()

    after = {key["kid"] for key in requests.get(jwks_uri, timeout=HTTP_TIMEOUT_S).json()["keys"]}
    assert after == {kid}
    assert not before & after
    token, _claims = _sign_in_at_provider(oidc_provider, VERIFIED)  # validated with the JWKS
    header = jwt.decode(
        token["id_token"], KeySet.import_key_set({"keys": [_jwk_of(oidc_provider, kid)]})
    ).header
    assert header["kid"] == kid


def test_a_provider_session_signs_in_again_without_the_form(
    oidc_provider: OidcProvider,
) -> None:
    oidc_provider.register_redirect_uri(REDIRECT_URI)
    session = http_session()
    first = _code_flow(
        oidc_provider.issuer, oidc_provider.client_id, "", REDIRECT_URI, "openid email"
    )[2]
    second = _code_flow(
        oidc_provider.issuer, oidc_provider.client_id, "", REDIRECT_URI, "openid email"
    )[2]

    assert "code=" in provider_sign_in(first, VERIFIED, session=session)
    assert "code=" in provider_sign_in(second, "nobody", password="wrong", session=session)


def test_another_micro_instance_is_an_openid_provider_for_a_relying_party(
    upstream_micro: LiveServer,
) -> None:
    env = upstream_micro.env
    redirect_uri = "http://127.0.0.1:8000/accounts/federation/upstream/callback/"
    client, metadata, url, verifier, nonce = _code_flow(
        upstream_micro.url,
        env["MICRO_LIVE_OIDC_CLIENT_ID"],
        env["MICRO_LIVE_OIDC_CLIENT_SECRET"],
        redirect_uri,
        "openid profile",
    )
    assert metadata["issuer"] == upstream_micro.url

    callback = micro_sign_in(url, "ulla", env["MICRO_LIVE_PASSWORD"])
    token = client.fetch_token(
        metadata["token_endpoint"], authorization_response=callback, code_verifier=verifier
    )
    claims = _id_token_claims(
        token["id_token"], metadata, client_id=env["MICRO_LIVE_OIDC_CLIENT_ID"], nonce=nonce
    )

    assert claims["preferred_username"] == "ulla"
    assert claims["email"] == "ulla@upstream.example"
    assert claims["email_verified"] is True
