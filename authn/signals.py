"""Reactions to identity changes made outside the services (e.g. a delete in the admin)."""

from __future__ import annotations

from typing import Any

from authn.services import revocation


def revoke_tokens_of_deleted_user(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A hard-deleted user's stateless access tokens stop working at once, like a deactivation."""
    revocation.revoke_subject(user_id=str(instance.pk))
