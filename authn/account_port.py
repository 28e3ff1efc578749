"""The credentials backend accounts calls (accounts.ports; the MICRO_CREDENTIALS_BACKEND
setting names this module): account changes reach authn's credentials only through here."""

from __future__ import annotations

import uuid

from accounts.models import User
from authn.api_keys.services import api_keys_revoke_all
from authn.credentials.services import user_credentials_revoke
from authn.lockout import account_unlock
from authn.mfa.services import mfa_reset_by_admin, user_has_mfa
from authn.sign_in.services import current_password_check

__all__ = [
    "account_unlock",
    "current_password_check",
    "mfa_reset_by_admin",
    "user_api_keys_revoke",
    "user_credentials_revoke",
    "user_has_mfa",
]


def user_api_keys_revoke(*, user: User, actor: uuid.UUID | None, reason: str) -> None:
    api_keys_revoke_all(owner_id=user.pk, actor=actor, reason=reason)
