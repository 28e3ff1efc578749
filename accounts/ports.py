"""What accounts asks of the credential side of the service, through a setting, not an import.

Accounts owns users, groups and email flows; sessions, tokens, API keys, MFA devices and the
sign-in lockout belong to authn, which builds on accounts. When an account change must end a
user's credentials (deactivation, a password change or reset) or consult them (does this
administrator have MFA?), accounts calls the module the MICRO_CREDENTIALS_BACKEND setting
names, as Django finds its session store through SESSION_ENGINE. The project names
authn.account_port; a deployment that splits accounts off names its own module with these
functions.
"""

from __future__ import annotations

import uuid
from importlib import import_module
from typing import Protocol, cast

from django.conf import settings

from accounts.models import User
from micro_platform.identity import Principal


class CredentialsBackend(Protocol):
    """The functions the backend module provides (each keyword-only)."""

    def user_credentials_revoke(
        self, *, user: User, keep_family: str | None = None, access_tokens: bool = False
    ) -> None:
        """Ends every sign-in of the user (refresh families, sessions, OAuth grants), sparing
        the refresh family `keep_family`; with `access_tokens`, every access token issued to
        the user so far as well."""

    def user_api_keys_revoke(self, *, user: User, actor: uuid.UUID | None, reason: str) -> None:
        """Revokes every API key of the user, audited with `reason`."""

    def current_password_check(
        self, *, user: User, password: str, method: str, ip_address: str | None
    ) -> bool:
        """Whether `password` is the user's, checked under the sign-in lockout (raises
        micro_platform.sign_in.SignInThrottled when locked or throttled)."""

    def user_has_mfa(self, *, user: User) -> bool:
        """Whether the user has a confirmed second factor."""

    def account_unlock(self, *, user: User, actor: Principal | None) -> None:
        """Lifts a sign-in lockout of the user."""

    def mfa_reset_by_admin(self, *, user: User, actor: Principal | None) -> None:
        """Removes the user's second factors (a lost authenticator) and ends their sign-ins."""


def credentials() -> CredentialsBackend:
    """The configured credentials backend module."""
    return cast(CredentialsBackend, import_module(settings.MICRO_CREDENTIALS_BACKEND))
