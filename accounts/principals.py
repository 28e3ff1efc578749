"""Builds principals from users; the one constructor every database-backed auth path uses."""

from __future__ import annotations

from accounts.models import User
from accounts.selectors import group_ids_of, user_held_scopes, user_memberships
from micro_platform.identity import AuthMethod, Principal


def principal_for_user(
    user: User,
    *,
    method: AuthMethod,
    scopes: frozenset[str] | None = None,
    amr: tuple[str, ...] = (),
    session_id: str | None = None,
    auth_time: int | None = None,
) -> Principal:
    """A principal holding `scopes` (default: all the user holds), never more than held."""
    memberships = user_memberships(user=user)
    held = user_held_scopes(user=user, memberships=memberships)
    return Principal(
        user_id=user.pk,
        username=user.username,
        kind=user.kind,  # type: ignore[arg-type]
        group_ids=group_ids_of(memberships),
        scopes=held if scopes is None else held & scopes,
        method=method,
        amr=amr,
        session_id=session_id,
        auth_time=auth_time,
    )
