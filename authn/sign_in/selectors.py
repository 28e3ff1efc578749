"""What a password sign-in reads about the account it names, in one query."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import F, QuerySet

from accounts.models import User
from accounts.selectors import login_kind, users_by_login
from authn.mfa.services import MfaFactors, factor_annotations
from micro_platform.compiled import InstancesByValue


@dataclass(frozen=True)
class SignInAccount:
    """The user, its groups as `user_memberships` gives them, and its second factors."""

    user: User
    memberships: list[tuple[uuid.UUID, list[str]]]
    factors: MfaFactors


def _sign_in_rows(login: str) -> QuerySet[User]:
    """The users `users_by_login` finds for `login`, each with its factors and one row per
    group, by primary key."""
    users = User.objects.annotate(
        **factor_annotations(),
        sign_in_group_id=F("memberships__group_id"),
        sign_in_group_scopes=F("memberships__group__scopes"),
    ).order_by("pk")
    return users_by_login(login=login, users=users)


# Every sign-in reads its account: building and compiling the query (its factor subqueries,
# its group join) cost more than the indexed read itself, so the statement is compiled once
# per database and kind of login (their WHERE clauses differ). Its other parameters are
# constants: the factor subqueries' selected 1 and, for an email, the '' it excludes.
_SIGN_IN_READS = {
    kind: InstancesByValue(User, _sign_in_rows, constants=True, probe=probe)
    for kind, probe in (("username", "Probe%_\\ name"), ("email", "Probe%_\\ @example.com"))
}


def sign_in_account_get(*, login: str) -> SignInAccount | None:
    """The account `user_get_by_login` designates with its memberships and second factors,
    read together (one row per group): the factors and the security stamp that
    `sign_in_confirm` compares come from one snapshot."""
    kind = login_kind(login)
    if kind is None:
        return None
    rows = _SIGN_IN_READS[kind].get(login)
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
