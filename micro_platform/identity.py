"""The principal: who is calling, built the same way by every authentication path."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

from micro_client.contract import personal_sign_in, scope_granted
from micro_platform import scopes as scope_catalogue

# RFC 8176: the person signed in at a federated identity provider.
FEDERATED = "fed"

AuthMethod = Literal["session", "jwt", "oauth2", "api_key"]
Kind = Literal["user", "service"]


@dataclass(frozen=True, slots=True)
class Principal:
    """A verified identity. Stands in for `request.user` in the API (DRF treats it as a user)."""

    user_id: uuid.UUID
    username: str
    kind: Kind
    group_ids: tuple[uuid.UUID, ...]
    scopes: frozenset[str]
    method: AuthMethod
    amr: tuple[str, ...] = ()
    jti: str | None = None
    session_id: str | None = None
    expires_at: int | None = None
    client_id: str | None = None
    api_key_id: uuid.UUID | None = None
    # When the user last proved who they are (epoch seconds; the `auth_time` claim): fresh
    # sign-ins with `otp` in `amr` gate privileged actions such as minting api_admin keys.
    auth_time: int | None = None
    # The SHA-256 of an OAuth 2.0 access token, what its revocation is recorded under: the
    # gateway's upstream tokens minted from it carry it, so that revocation reaches them too.
    token_digest: str | None = None
    # The registered service (by name) an API key is bound to: such a key is a credential for
    # that service only, so this service's own API refuses it. None for every other credential.
    resource: str | None = None
    # The identity provider (slug) of a federated sign-in (`fed` in `amr`); None otherwise.
    idp: str | None = None

    # DRF and Django look for these on `request.user`.
    is_authenticated = True
    is_anonymous = False
    is_active = True

    @property
    def pk(self) -> uuid.UUID:
        return self.user_id

    @property
    def id(self) -> uuid.UUID:
        return self.user_id

    def has_scope(self, scope: str) -> bool:
        """True when the principal's scopes grant `scope` (`api_admin` implies every scope)."""
        return scope_granted(self.scopes, scope)

    def has_scopes(self, required: tuple[str, ...] | frozenset[str]) -> bool:
        return all(self.has_scope(scope) for scope in required)

    @property
    def is_admin(self) -> bool:
        return scope_catalogue.API_ADMIN in self.scopes

    def is_self(self, user_id: uuid.UUID) -> bool:
        return self.user_id == user_id

    @property
    def is_personal_sign_in(self) -> bool:
        """A person signed in themselves: a password sign-in, a dashboard session or this
        service's own `micro` CLI login (`pwd` in `amr`), a passkey sign-in (`hwk`, `swk`), or
        a sign-in at an identity provider (`fed`). Not an API key or a token derived from
        one (`api_key`), a client-credentials token (no `amr`), nor a third-party app's token
        acting for the user (another `client_id`)."""
        return personal_sign_in(self.amr, self.client_id)
