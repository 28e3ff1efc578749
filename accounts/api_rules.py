"""What the REST views and the RPC facade (the rpc app) share: a user looked up or 404, the
view of a user a caller may see, creating a user, and who may change which fields of a user."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime, tzinfo
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from rest_framework.exceptions import APIException, NotFound, PermissionDenied, Throttled

from accounts import selectors, services
from accounts.models import User
from accounts.serializers import (
    UserCreateIn,
    UserPrivateOut,
    UserUpdateAdminIn,
    UserUpdateSelfIn,
)
from accounts.throttles import RateLimited
from micro_platform import scopes as sc
from micro_platform.errors import Problem, field_problem, validation_problem
from micro_platform.identity import Principal


def password_problem(exc: DjangoValidationError, field: str) -> APIException:
    """A refused password is a 403: the policy's refusal (`password_policy`, which no schema
    can state: too common, too like the account) or a wrong current password
    (`wrong_password`), the messages under `errors` as a 400's; any other refusal of the
    service stays a 400 on `field`."""
    if isinstance(exc, services.PasswordRefused):
        errors = {field: list(exc.messages)}
        return field_problem(status_code=403, code="password_policy", errors=errors)
    if isinstance(exc, services.CurrentPasswordWrong):
        detail = "The current password is incorrect."
        return field_problem(
            status_code=403, code="wrong_password", errors=exc.message_dict, detail=detail
        )
    return validation_problem(exc, field)


def conflict_error(exc: services.Conflict) -> Problem:
    """A 409 `unique`: the name or address is taken (the registry's state, which no schema
    can say), with the field named in `errors` as a 400 would."""
    return field_problem(status_code=409, code="unique", errors={exc.field: [exc.message]})


def can_see_private(principal: Principal, user: User) -> bool:
    """The private view (email, account state) is for the user themself with `profile`, or a
    `users:write` caller: a credential of the user without `profile` (a `users:read` key, an
    application's token) gets the public view, as any other caller would."""
    return sees_private_of(principal, user.pk)


def sees_private_of(principal: Principal, user_id: uuid.UUID) -> bool:
    """`can_see_private` of the user with this id."""
    return (principal.is_self(user_id) and principal.has_scope(sc.PROFILE)) or principal.has_scope(
        sc.USERS_WRITE
    )


def public_view(
    *,
    id: uuid.UUID,
    username: str,
    display_name: str,
    avatar_url: str,
    kind: str,
    created_at: datetime,
    zone: tzinfo | None = None,
) -> dict[str, Any]:
    """UserPublicOut's output, field by field, without building a serializer (which costs
    more than the read on the hot user reads): the same keys in the same order, the id as a
    string, `created_at` in the current time zone (or `zone`, when the caller read it once
    for many users) in ISO 8601 with `Z` for UTC. Tests compare its JSON with the
    serializer's byte for byte."""
    created = created_at.astimezone(zone or timezone.get_current_timezone()).isoformat()
    if created.endswith("+00:00"):
        created = created[:-6] + "Z"
    return {
        "id": str(id),
        "username": str(username),
        "display_name": str(display_name),
        "avatar_url": str(avatar_url),
        "kind": str(kind),
        "created_at": created,
    }


MAX_BATCH_IDS = 100


def batch_ids(ids: str) -> list[str] | None:
    """The ids of a `?ids=` lookup (comma-separated, blanks ignored, each stripped); None for
    more than MAX_BATCH_IDS."""
    wanted = [value.strip() for value in ids.split(",") if value.strip()]
    return wanted if len(wanted) <= MAX_BATCH_IDS else None


def batch_lookup(ids: str) -> dict[str, Any] | None:
    """The answer of a `?ids=` lookup: the public view of each existing user among them, in
    the order of `created_at` then id, whoever asks; None for more than MAX_BATCH_IDS ids."""
    wanted = batch_ids(ids)
    if wanted is None:
        return None
    return {"results": public_views(selectors.users_public_by_ids(ids=wanted))}


def public_views(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """`public_view` of each row of `selectors.users_public_by_ids` (the batch lookup)."""
    zone = timezone.get_current_timezone()
    return [public_view(**row, zone=zone) for row in rows]


def render_user(principal: Principal, user: User) -> dict[str, Any]:
    if can_see_private(principal, user):
        return dict(UserPrivateOut(user).data)
    return public_view(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        avatar_url=user.avatar_url,
        kind=user.kind,
        created_at=user.created_at,
    )


def get_user_or_404(user_id: object) -> User:
    user = selectors.user_get(user_id=user_id)
    if user is None:
        raise NotFound("No user with this id.", code="user_not_found")
    return user


def create_user_as(principal: Principal, data: Any) -> User:
    """Validates `data` as a new user's fields and creates the user, the principal its actor
    (a password the policy refuses is a 403, a taken name a 409)."""
    serializer = UserCreateIn(data=data)
    serializer.is_valid(raise_exception=True)
    try:
        return services.user_create(actor=principal, **serializer.validated_data)
    except DjangoValidationError as exc:
        raise password_problem(exc, "password") from exc
    except services.Conflict as exc:
        raise conflict_error(exc) from exc


def update_user_as(principal: Principal, user: User, data: Any, ip_address: str | None) -> User:
    """Validates `data` against what the principal may change on `user`, then applies it."""
    if principal.has_scope(sc.USERS_WRITE):
        serializer: UserUpdateSelfIn = UserUpdateAdminIn(data=data)
    elif principal.is_self(user.pk) and principal.has_scope(sc.PROFILE):
        serializer = UserUpdateSelfIn(data=data)
    else:
        raise PermissionDenied("Only the user or a `users:write` caller may change this user.")
    serializer.is_valid(raise_exception=True)
    try:
        return services.user_update(
            actor=principal, user=user, changes=serializer.validated_data, ip_address=ip_address
        )
    except services.Conflict as exc:
        raise conflict_error(exc) from exc
    except RateLimited as exc:
        detail = "Too many email changes; retry later."
        raise Throttled(wait=exc.retry_after, detail=detail) from exc
