"""Every write to users, groups and memberships; each one audited in its own transaction."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection
from typing import Any

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from accounts import mailer, selectors, throttles
from accounts.models import Group, Membership, User, iequals
from accounts.ports import credentials
from accounts.validators import NO_PASSWORD_FOR_SERVICE_ACCOUNTS
from audit.services import audit_record
from micro_platform import scopes as scope_catalogue
from micro_platform.identity import Principal
from micro_platform.scopes import ScopesRefused, UnknownScope
from micro_platform.sign_in import (
    FreshMfaRequired,
    require_personal_sign_in,
    require_recent_sign_in,
    signed_in_recently,
)
from permissions import catalogue as registry

EMAIL_CHANGES_PER_HOUR = 10  # per client IP and per account, as sign-ups per client IP


class EmailChangeForbidden(PermissionDenied):
    """Only the user or `api_admin` may change an account's email address."""

    code = "insufficient_scope"


class PasswordRefused(ValidationError):
    """The password policy refuses a new password (too short or long, too common, too like
    the account); its messages say why."""


class CurrentPasswordWrong(ValidationError):
    """The current password given to change it is not the account's."""


def password_policy_check(password: str, user: User) -> None:
    """The password policy (AUTH_PASSWORD_VALIDATORS) for `user`'s new password; a refusal is
    PasswordRefused with the validators' messages."""
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise PasswordRefused(exc.messages, code="password_policy") from exc


class Conflict(Exception):
    """A uniqueness rule would be broken (`field` names which)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _check_unique(*, username: str | None, email: str | None, exclude: uuid.UUID | None) -> None:
    others = User.objects.exclude(pk=exclude) if exclude else User.objects.all()
    if username is not None and others.filter(iequals("username", username)).exists():
        raise Conflict("username", "A user with this username already exists.")
    if email and others.exclude(email="").filter(iequals("email", email)).exists():
        raise Conflict("email", "A user with this email already exists.")


def user_create(
    *,
    actor: Principal | None,
    username: str,
    email: str = "",
    password: str | None = None,
    display_name: str = "",
    kind: str = User.Kind.USER,
    scopes: Collection[str] = (),
    ip_address: str | None = None,
    signed_up: bool = False,
) -> User:
    """Creates a user (no password: unusable); raises ValidationError for a weak password, or
    for any password of a service account (they never sign in with one).

    `signed_up` marks an account created by self sign-up rather than by an administrator."""
    if kind == User.Kind.SERVICE and password is not None:
        raise ValidationError(NO_PASSWORD_FOR_SERVICE_ACCOUNTS, code="service_account_password")
    user = User(
        username=username,
        email=User.objects.normalize_email(email or ""),
        display_name=display_name,
        kind=kind,
        scopes=sorted(_registered(scopes)),
        signed_up=signed_up,
    )
    if password is not None:
        password_policy_check(password, user)
    user.set_password(password)
    _check_unique(username=username, email=user.email, exclude=None)
    try:
        with transaction.atomic():
            user.save()
            audit_record(
                type="user.created",
                actor=actor,
                subject_type="user",
                subject_id=user.pk,
                ip_address=ip_address,
                data={"kind": kind, "username": username},
            )
    except IntegrityError as exc:  # a concurrent insert won the race
        raise Conflict("username", "A user with this username or email already exists.") from exc
    return user


def _check_may_administer(*, actor: Principal, user: User) -> None:
    """Accounts holding `api_admin` are changed only by `api_admin` (or themselves).

    Otherwise `users:write` could take over an administrator (change the email, reactivate
    or deactivate it); the rule is here so every caller (REST, RPC, dashboard) gets it.
    """
    if actor.is_admin or actor.is_self(user.pk):
        return
    if selectors.user_is_administrator(user=user):
        raise PermissionDenied("Only `api_admin` may change an `api_admin` account.")


def _email_changes(user: User, changes: dict[str, Any]) -> bool:
    return "email" in changes and changes["email"].lower() != user.email.lower()


def _check_may_change_email(*, actor: Principal, user: User) -> None:
    """Who may move an address that receives password resets (and so opens the account).

    The user themself from a password sign-in in the last 15 minutes; for anyone else's
    account only `api_admin`, with a sign-in with a one-time code in the last 15 minutes when
    that administrator has MFA: `users:write` could otherwise point an account at its own
    mailbox, verify it and reset the password.
    """
    if actor.is_self(user.pk):
        require_recent_sign_in(actor=actor)
        return
    if not actor.is_admin:
        raise EmailChangeForbidden("Only `api_admin` may change another user's email address.")
    if signed_in_recently(actor, with_otp=True):
        return
    # An administrator whose row is gone is refused rather than taken to have no MFA.
    admin = selectors.user_get(user_id=actor.user_id)
    if admin is None or credentials().user_has_mfa(user=admin):
        raise FreshMfaRequired(
            "Changing another user's email address needs a sign-in with MFA (a one-time code"
            " or a passkey) in the last 15 minutes."
        )


def _throttle_email_change(*, actor: Principal, ip_address: str | None) -> None:
    """Limits email changes like sign-ups: a taken address answers `unique`, which would
    otherwise tell whether it has an account. Callers holding `users:write` see every
    account's address already."""
    if actor.has_scope(scope_catalogue.USERS_WRITE):
        return
    throttles.throttle("email_change:ip", ip_address, limit=EMAIL_CHANGES_PER_HOUR)
    throttles.throttle("email_change:user", str(actor.user_id), limit=EMAIL_CHANGES_PER_HOUR)


def user_update(
    *, actor: Principal, user: User, changes: dict[str, Any], ip_address: str | None = None
) -> User:
    """Applies validated field changes; `is_active: false` deactivates (and revokes).

    Every reason the actor may not make a change is checked before any uniqueness check, so
    a `unique` answer goes only to a caller who could have made the change (and email
    changes are throttled: RateLimited).
    """
    _check_may_administer(actor=actor, user=user)
    if _email_changes(user, changes):
        _check_may_change_email(actor=actor, user=user)
        _throttle_email_change(actor=actor, ip_address=ip_address)
    deactivate = changes.get("is_active") is False and user.is_active
    fields = dict(changes)
    if deactivate:
        del fields["is_active"]
    if fields:
        user = _apply_changes(actor=actor, user=user, changes=fields)
    return _deactivate(actor=actor, user=user) if deactivate else user


def _apply_changes(*, actor: Principal, user: User, changes: dict[str, Any]) -> User:
    _check_unique(username=changes.get("username"), email=changes.get("email"), exclude=user.pk)
    old_email = user.email
    email_changed = _email_changes(user, changes)  # authorized by user_update
    if email_changed:
        changes = {**changes, "email_verified": False}
    for field, value in changes.items():
        setattr(user, field, value)
    try:
        with transaction.atomic():
            user.save(update_fields=[*changes, "updated_at"])
            audit_record(
                type="user.updated",
                actor=actor,
                subject_type="user",
                subject_id=user.pk,
                data={"fields": sorted(changes)},
            )
            if email_changed and old_email:
                _email_change_notify(user=user, old_email=old_email)
    except IntegrityError as exc:
        raise Conflict("username", "A user with this username or email already exists.") from exc
    return user


def _email_change_notify(*, user: User, old_email: str) -> None:
    """Tells the previous address about the change (after commit), so a takeover is seen."""
    mailer.send_on_commit(
        template="email_changed",
        subject="Your email address was changed",
        to=old_email,
        context={
            "name": mailer.addressee_name(display_name=user.display_name, username=user.username),
            "username": user.username,
            "new_email": user.email,
        },
    )


def user_deactivate(*, actor: Principal, user: User) -> User:
    """Deactivates the user and revokes every credential: tokens, sessions, families."""
    _check_may_administer(actor=actor, user=user)
    return _deactivate(actor=actor, user=user)


def _deactivate(*, actor: Principal, user: User) -> User:
    with transaction.atomic():
        user.is_active = False
        user.save(update_fields=["is_active", "updated_at"])
        credentials().user_credentials_revoke(user=user, access_tokens=True)
        audit_record(type="user.deactivated", actor=actor, subject_type="user", subject_id=user.pk)
    return user


def user_password_change(
    *,
    actor: Principal,
    user: User,
    old_password: str,
    new_password: str,
    ip_address: str | None = None,
) -> None:
    """Changes the password given the current one; ends the user's other sign-ins.

    Only a person's own sign-in may change it (SignInRequired), and the current password is
    checked under the sign-in lockout and per-IP throttle (SignInThrottled, failures counted
    and audited), so no credential can guess it here.
    """
    require_personal_sign_in(actor=actor, action="Changing the password")
    if not credentials().current_password_check(
        user=user, password=old_password, method="password_change", ip_address=ip_address
    ):
        raise CurrentPasswordWrong({"old_password": ["The current password is incorrect."]})
    password_policy_check(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        credentials().user_credentials_revoke(
            user=user, keep_family=actor.session_id if actor.method == "jwt" else None
        )
        audit_record(type="password.changed", actor=actor, subject_type="user", subject_id=user.pk)


def password_reset_apply(
    *,
    locked: User,
    password: str,
    actor: uuid.UUID | None,
    ip_address: str | None = None,
    data: dict[str, Any],
) -> None:
    """Sets a reset password on a row locked by the caller's transaction: whoever knew the old
    password may hold sessions, tokens or API keys, so every sign-in ends and every key is
    revoked (audited as `password.changed` with `data`). MFA and lockout stay."""
    locked.set_password(password)
    locked.save(update_fields=["password", "updated_at"])
    credentials().user_credentials_revoke(user=locked, access_tokens=True)
    credentials().user_api_keys_revoke(user=locked, actor=actor, reason="password_reset")
    audit_record(
        type="password.changed",
        actor=actor,
        subject_type="user",
        subject_id=locked.pk,
        ip_address=ip_address,
        data=data,
    )


def user_password_reset(*, user: User, via: str) -> str:
    """Gives the user a new generated password from the server's command line (a lost admin
    password) and returns it, as a reset link would (password_reset_apply)."""
    password = secrets.token_urlsafe(18)
    password_policy_check(password, user)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        password_reset_apply(
            locked=locked, password=password, actor=None, data={"method": "reset", "via": via}
        )
    return password


def _registered(scopes: Collection[str]) -> frozenset[str]:
    """The scope names as a set; a ValidationError on `scopes` names any not registered."""
    try:
        return registry.validate_scopes(scopes)
    except UnknownScope as exc:
        raise ScopesRefused({"scopes": [f"{str(exc).capitalize()}."]}) from exc


def group_create(*, actor: Principal, name: str, scopes: Collection[str]) -> Group:
    if Group.objects.filter(iequals("name", name)).exists():
        raise Conflict("name", "A group with this name already exists.")
    with transaction.atomic():
        group = Group.objects.create(name=name, scopes=sorted(_registered(scopes)))
        audit_record(
            type="group.created",
            actor=actor,
            subject_type="group",
            subject_id=group.pk,
            data={"name": name, "scopes": group.scopes},
        )
    return group


def group_scopes_set(*, actor: Principal | None, group: Group, scopes: Collection[str]) -> Group:
    """Sets the scopes the group gives its members (whether the actor may is the caller's
    check: api_admin); no change, no event. Members hold the new set on their next token,
    API-key use and dashboard request (the model signal re-reads cached keys)."""
    wanted = sorted(_registered(scopes))
    with transaction.atomic():
        # Compared with the row as it is now: two administrators saving at once each change
        # (and audit) the set the other left, never a stale copy of it.
        locked = Group.objects.select_for_update().get(pk=group.pk)
        group.scopes = locked.scopes
        if wanted == sorted(locked.scopes):
            return group
        group.scopes = wanted
        group.save(update_fields=["scopes"])
        audit_record(
            type="group.updated",
            actor=actor,
            subject_type="group",
            subject_id=group.pk,
            data={"name": group.name, "scopes": wanted},
        )
    return group


def group_member_add(*, actor: Principal | None, group: Group, user: User, role: str) -> Membership:
    """Adds the user to the group, or changes their role (one membership per user and group).

    Needs a person's own sign-in (or the operator, `actor=None`): a membership can carry
    `users:write`, so a key or an application's token must not hand it out. Whether the actor
    may manage this group is the caller's check.
    """
    require_personal_sign_in(actor=actor, action="Changing a group's members")
    with transaction.atomic():
        membership, created = Membership.objects.update_or_create(
            group=group, user=user, defaults={"role": role}
        )
        audit_record(
            type="group.member_added" if created else "group.member_updated",
            actor=actor,
            subject_type="group",
            subject_id=group.pk,
            data={"user_id": str(user.pk), "role": role},
        )
    return membership


def group_member_remove(*, actor: Principal | None, group: Group, user_id: uuid.UUID) -> bool:
    """Removes the user from the group; False when they were not a member. Needs a person's
    own sign-in (or the operator, `actor=None`), like adding one."""
    require_personal_sign_in(actor=actor, action="Changing a group's members")
    with transaction.atomic():
        deleted, _ = Membership.objects.filter(group=group, user_id=user_id).delete()
        if deleted:
            audit_record(
                type="group.member_removed",
                actor=actor,
                subject_type="group",
                subject_id=group.pk,
                data={"user_id": str(user_id)},
            )
    return bool(deleted)
