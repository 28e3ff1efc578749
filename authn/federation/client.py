"""One Authlib client per identity provider, built from its row and cached per process.

Authlib does discovery, PKCE (S256), state and nonce, the code exchange and the ID token
checks; this module bounds what it may do: every upstream call has a timeout, discovery is
cached for MICRO_FEDERATION_DISCOVERY_TTL seconds and must name the row's issuer, the ID
token's algorithm must be an asymmetric one the provider lists (never `none`, never HS*:
the provider's public keys must not double as a shared secret), every endpoint it names keeps
to the issuer's transport rule (https, http only on loopback: the JWKS, the code and the
client secret never travel in clear text), an unknown `kid` refetches the JWKS at most
once per JWKS_REFETCH_SECONDS, so forged tokens cannot make us hammer it, and every answer
is read through transport.BoundedSession (at most MICRO_FEDERATION_MAX_RESPONSE_BYTES, whole
within MICRO_FEDERATION_TIMEOUT).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.django_client import DjangoIntegration, DjangoOAuth2App
from django.conf import settings

from authn.encryption import SecretUnreadable
from authn.federation.errors import UpstreamBadResponse, UpstreamUnavailable
from authn.federation.transport import BoundedSession, ResponseTooLarge, secure_url
from authn.models import IdentityProvider

# Algorithms an ID token may be signed with: public-key ones only.
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# OpenID Connect Discovery: RS256 is the default when a provider lists none.
DEFAULT_ALGORITHMS = ["RS256"]
JWKS_REFETCH_SECONDS = 10
_REQUIRED_ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")
_OPTIONAL_ENDPOINTS = ("userinfo_endpoint",)


@contextmanager
def upstream_call() -> Iterator[None]:
    """Turns the ways an HTTP call to the provider fails into UpstreamUnavailable (down, slow,
    5xx, or an answer that did not arrive whole in time) or UpstreamBadResponse (an answer
    that is not what OpenID Connect says, or is larger than this service reads)."""
    try:
        yield
    except ResponseTooLarge as exc:
        raise UpstreamBadResponse("The identity provider's answer is too large.") from exc
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise UpstreamUnavailable() from exc
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500:
            raise UpstreamUnavailable() from exc
        raise UpstreamBadResponse() from exc
    except OAuthError as exc:
        raise UpstreamBadResponse(f"The identity provider refused: {exc.error}.") from exc
    # RecursionError: JSON nested deeper than the parser goes (a small answer can be).
    except (requests.RequestException, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise UpstreamBadResponse() from exc


class FederationApp(DjangoOAuth2App):
    """Authlib's Django OpenID Connect client for one provider row."""

    client_cls = BoundedSession
    server_metadata: dict[str, Any]

    def __init__(self, provider: IdentityProvider, **kwargs: Any) -> None:
        super().__init__(DjangoIntegration(provider.slug), name=provider.slug, **kwargs)
        self.issuer = provider.issuer
        self._jwks_fetched_at = 0.0

    def load_server_metadata(self) -> dict[str, Any]:
        """The provider's discovery document, fetched at most once per TTL and checked."""
        loaded = self.server_metadata.get("_loaded_at")
        if loaded is not None and time.time() - loaded < settings.MICRO_FEDERATION_DISCOVERY_TTL:
            return self.server_metadata
        with self._get_session() as session:
            response = session.request("GET", self._server_metadata_url, withhold_token=True)
            response.raise_for_status()
            metadata = response.json()
        self.server_metadata = self._checked(metadata)
        self._jwks_fetched_at = 0.0
        return self.server_metadata

    def _checked(self, metadata: Any) -> dict[str, Any]:
        if not isinstance(metadata, dict):
            raise UpstreamBadResponse("The identity provider's discovery document is not JSON.")
        if metadata.get("issuer") != self.issuer:
            raise UpstreamBadResponse("The discovery document names another issuer.")
        for name in _REQUIRED_ENDPOINTS:
            if not isinstance(metadata.get(name), str):
                raise UpstreamBadResponse(f"The discovery document has no {name}.")
        for name in (*_REQUIRED_ENDPOINTS, *_OPTIONAL_ENDPOINTS):
            if name in metadata and not secure_url(metadata[name]):
                raise UpstreamBadResponse(f"The discovery document's {name} is not https.")
        listed = metadata.get("id_token_signing_alg_values_supported") or DEFAULT_ALGORITHMS
        algorithms = [alg for alg in listed if alg in ASYMMETRIC_ALGORITHMS]
        if not isinstance(listed, list) or not algorithms:
            raise UpstreamBadResponse("The provider signs ID tokens with no usable algorithm.")
        metadata["id_token_signing_alg_values_supported"] = algorithms
        metadata.pop("jwks", None)  # keys only ever come from jwks_uri
        self.client_kwargs["token_endpoint_auth_method"] = self._auth_method(metadata)
        metadata["_loaded_at"] = time.time()
        return metadata

    def _auth_method(self, metadata: dict[str, Any]) -> str:
        """A public client sends no secret (PKCE only); a confidential one uses HTTP Basic
        unless the provider lists only the form post."""
        if not self.client_secret:
            return "none"
        supported = metadata.get("token_endpoint_auth_methods_supported") or []
        if "client_secret_post" in supported and "client_secret_basic" not in supported:
            return "client_secret_post"
        return "client_secret_basic"

    def fetch_jwk_set(self, force: bool = False) -> dict[str, Any]:
        """The provider's JWKS; refetched for an unknown `kid`, at most once per interval."""
        metadata = self.load_server_metadata()
        cached = metadata.get("jwks")
        recent = time.time() - self._jwks_fetched_at < JWKS_REFETCH_SECONDS
        if cached is not None and (not force or recent):
            return cached
        with self._get_session() as session:
            response = session.request("GET", metadata["jwks_uri"], withhold_token=True)
            response.raise_for_status()
            jwks = response.json()
        if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
            raise UpstreamBadResponse("The provider's JWKS is not a key set.")
        self._jwks_fetched_at = time.time()
        metadata["jwks"] = jwks
        return jwks


_clients: dict[str, tuple[datetime, FederationApp]] = {}
_lock = threading.Lock()


def client_for(provider: IdentityProvider) -> FederationApp:
    """The provider's client, rebuilt when its row changed since it was built."""
    with _lock:
        cached = _clients.get(provider.slug)
        if cached is not None and cached[0] == provider.updated_at:
            return cached[1]
    app = _build(provider)
    with _lock:
        _clients[provider.slug] = (provider.updated_at, app)
    return app


def _build(provider: IdentityProvider) -> FederationApp:
    try:
        secret = provider.client_secret()
    except SecretUnreadable as exc:
        raise UpstreamBadResponse("This provider's client secret cannot be read.") from exc
    return FederationApp(
        provider,
        client_id=provider.client_id,
        client_secret=secret or None,
        server_metadata_url=provider.issuer.rstrip("/") + "/.well-known/openid-configuration",
        client_kwargs={
            "scope": " ".join(_scopes(provider)),
            "code_challenge_method": "S256",
            "default_timeout": settings.MICRO_FEDERATION_TIMEOUT,
        },
    )


def _scopes(provider: IdentityProvider) -> list[str]:
    scopes = [str(scope) for scope in provider.scopes or ["email", "profile"]]
    return scopes if "openid" in scopes else ["openid", *scopes]


def clients_forget() -> None:
    """Drops every cached client (tests; a provider's row change also rebuilds its own)."""
    with _lock:
        _clients.clear()
