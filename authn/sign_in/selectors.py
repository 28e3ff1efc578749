"""What a password sign-in reads about the account it names, in one query."""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from django.db.models import F, QuerySet

from accounts.models import User
from accounts.selectors import users_by_login
from authn.mfa.services import MfaFactors, factor_annotations


@dataclass(frozen=True)
class SignInAccount:
    """The user, its groups as `user_memberships` gives them, and its second factors."""

    user: User
    memberships: list[tuple[uuid.UUID, list[str]]]
    factors: MfaFactors


@functools.cache
def _sign_in_rows() -> QuerySet[User]:
    """Every user with its factors and one row per group, built once per process: resolving
    the factor subqueries and the group join costs more than the indexed read itself, and
    each sign-in only narrows a copy of it to its login. Never evaluated itself (it would keep
    its rows)."""
    return User.objects.annotate(
        **factor_annotations(),
        sign_in_group_id=F("memberships__group_id"),
        sign_in_group_scopes=F("memberships__group__scopes"),
    ).order_by("pk")


def sign_in_account_get(*, login: str) -> SignInAccount | None:
    """The account `user_get_by_login` designates with its memberships and second factors,
    read together (one row per group): the factors and the security stamp that
    `sign_in_confirm` compares come from one snapshot."""
    rows = list(users_by_login(login=login, users=_sign_in_rows()))
    if not rows:
        return None
    user = rows[0]
    memberships = [
        (getattr(row, "sign_in_group_id"), list(getattr(row, "sign_in_group_scopes") or []))  # noqa: B009
        for row in rows
        if row.pk == user.pk and getattr(row, "sign_in_group_id") is not None  # noqa: B009
    ]
    factors = (bool(getattr(user, "has_totp")), bool(getattr(user, "has_passkey")))  # noqa: B009
    return SignInAccount(user, memberships, factors)
