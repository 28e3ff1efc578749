"""The credentials backend accounts calls (accounts.ports; the MICRO_CREDENTIALS_BACKEND
setting names this module): account changes reach authn's credentials only through here."""

from __future__ import annotations

import uuid

from accounts.models import User
from authn.api_keys.services import api_keys_revoke_all
from authn.credentials import services as credentials
from authn.lockout import account_unlock
from authn.mfa.services import mfa_reset_by_admin, user_has_mfa
from authn.sign_in.services import current_password_check
from authn.tokens import revocation

__all__ = [
    "account_unlock",
    "current_password_check",
    "mfa_reset_by_admin",
    "user_api_keys_revoke",
    "user_credentials_revoke",
    "user_has_mfa",
]


def user_credentials_revoke(
    *, user: User, keep_family: str | None = None, access_tokens: bool = False
) -> None:
    credentials.user_credentials_revoke(user=user, keep_family=keep_family)
    if access_tokens:
        revocation.revoke_subject(user_id=str(user.pk))


def user_api_keys_revoke(*, user: User, actor: uuid.UUID | None, reason: str) -> None:
    api_keys_revoke_all(owner_id=user.pk, actor=actor, reason=reason)
