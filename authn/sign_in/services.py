"""Password checks shared by every sign-in path (token endpoint, RPC sessions, dashboard), and
the token endpoint's sign-in: a password (and a code when MFA is on) for a token pair."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import QuerySet
from django.utils import timezone

from accounts.backends import password_verify
from accounts.models import User
from accounts.selectors import user_get_by_login
from audit.services import AuditEntry, audit_record, audit_record_many
from authn import lockout
from authn.mfa.services import mfa_sign_in_step
from authn.sign_in.selectors import SignInAccount, sign_in_account_get
from authn.tokens import services as tokens
from authn.tokens.resources import audit_detail
from micro_platform import metrics
from micro_platform.compiled import UpdateByParams
from micro_platform.inserts import NewRows
from micro_platform.sign_in import SignInThrottled
from permissions.catalogue import ServiceEntry

logger = logging.getLogger("micro.auth")


class InvalidCredentials(Exception):
    """Unknown user, wrong password or inactive account: indistinguishable on purpose."""


def password_check(*, username: str, password: str, method: str, ip_address: str | None) -> User:
    """The active user with this username (or email) and password; audits a failure.

    Unknown users cost the same password hash as wrong passwords; a locked name or a
    throttled IP is refused (SignInThrottled) before any password is checked, whether the
    name exists or not.
    """
    user = user_get_by_login(login=username)
    if _counted_verify(username, user, password, method, ip_address) and user is not None:
        return user
    raise InvalidCredentials()


def sign_in_account_check(
    *, username: str, password: str, ip_address: str | None
) -> tuple[SignInAccount, str]:
    """`password_check` for the token endpoint, which reads the account's groups and second
    factors with the user; with the lockout subject, whose run of failures the caller ends
    (`lockout.success_record`) in its sign-in transaction or when it refuses the sign-in."""
    account = sign_in_account_get(login=username)
    user = account.user if account is not None else None
    subject = lockout.lockout_subject(login=username, user_id=user.pk if user else None)
    verified = _counted_verify(username, user, password, "password", ip_address, reset=False)
    if verified and account is not None:
        return account, subject
    raise InvalidCredentials()


def sign_in_confirm(*, user: User) -> None:
    """Call first in the transaction that opens a sign-in: stamps `last_login` only if the
    user's row still holds the password hash and security stamp that were checked and is
    active, in one statement that locks the row, so a password reset, change or deactivation
    that committed after the password was checked refuses this sign-in (InvalidCredentials)
    instead of leaving it a token or session that the change's revocation, recorded before,
    did not reach. While the lock is held, such a change waits for this sign-in and then
    revokes what it issued. The sign-in's `sign_in_record` then passes `confirmed=True`."""
    if _STAMP_IF_UNCHANGED.run(user, timezone.now()) != 1:
        raise InvalidCredentials()


def _unchanged(user: User, now: datetime) -> QuerySet[User]:
    return User.objects.filter(
        pk=user.pk, password=user.password, security_stamp=user.security_stamp, is_active=True
    )


def _confirm_params(connection: BaseDatabaseWrapper, user: User, now: datetime) -> list[Any]:
    # In the statement's order: `last_login` as the ORM saves it (aware, then adapted by the
    # connection), then the filter's keywords sorted by name (`is_active` takes none).
    return [
        _LAST_LOGIN.get_db_prep_save(now, connection),
        user.password,
        _PK.get_db_prep_value(user.pk, connection),
        user.security_stamp,
    ]


_LAST_LOGIN = User._meta.get_field("last_login")
_PK = User._meta.pk
# Every sign-in confirms its user: the update is compiled once per database, not per sign-in.
_STAMP_IF_UNCHANGED = UpdateByParams(
    User,
    build=_unchanged,
    values=lambda user, now: {"last_login": now},
    params=_confirm_params,
)


def current_password_check(
    *, user: User, password: str, method: str, ip_address: str | None
) -> bool:
    """Whether `password` is the signed-in user's own, checked under the sign-in lockout.

    The same account lock and per-IP throttle as a sign-in (SignInThrottled before any
    password is checked); a failure counts toward both and is audited as `login.failed`, so
    a stolen session or token cannot be used to guess the password it was not given.
    """
    return _counted_verify(user.username, user, password, method, ip_address)


def _counted_verify(
    attempted: str,
    user: User | None,
    password: str,
    method: str,
    ip_address: str | None,
    *,
    reset: bool = True,
) -> bool:
    # Counted per account, so its username and its email share one run of failures; an
    # unknown name is counted under itself and answers exactly the same.
    subject = lockout.lockout_subject(login=attempted, user_id=user.pk if user else None)
    attempt = lockout.sign_in_attempt_begin(login=subject, ip_address=ip_address)
    _refuse_if_waiting(attempt.wait, method, ip_address)
    if lockout.over_threshold(attempt.number):  # concurrent attempts raced past the lock
        if lockout.lock(login=subject):
            _locked_record(attempted, user, method, ip_address)
        _refuse_if_throttled(subject, method, ip_address)
    if password_verify(user=user, password=password) and user is not None:
        if reset:
            lockout.success_record(login=subject)
        return True
    _failure_record(attempted, subject, user, method, ip_address, attempt.number)
    return False


def _refuse_if_throttled(subject: str, method: str, ip_address: str | None) -> None:
    _refuse_if_waiting(
        lockout.signin_wait(login=subject, ip_address=ip_address), method, ip_address
    )


def _refuse_if_waiting(wait: int, method: str, ip_address: str | None) -> None:
    if wait:
        logger.info("login.throttled method=%s ip=%s retry_after=%s", method, ip_address, wait)
        metrics.sign_in("locked")
        raise SignInThrottled(wait)


def _failure_record(
    attempted: str, subject: str, user: User | None, method: str, ip: str | None, attempt: int
) -> None:
    subject_type, subject_id = _failed_login_subject(attempted, user)
    locked = lockout.failure_record(login=subject, ip_address=ip, count=attempt)
    with transaction.atomic():
        audit_record(
            type="login.failed",
            actor=None,
            subject_type=subject_type,
            subject_id=subject_id,
            ip_address=ip,
            data={"method": method},
        )
    logger.info("login.failed method=%s ip=%s subject=%s:%s", method, ip, subject_type, subject_id)
    metrics.sign_in("failed")
    if locked:
        _locked_record(attempted, user, method, ip)


def _locked_record(attempted: str, user: User | None, method: str, ip: str | None) -> None:
    subject_type, subject_id = _failed_login_subject(attempted, user)
    with transaction.atomic():
        audit_record(
            type="login.locked",
            actor=None,
            subject_type=subject_type,
            subject_id=subject_id,
            ip_address=ip,
            data={"method": method},
        )
    logger.warning(
        "login.locked method=%s ip=%s subject=%s:%s", method, ip, subject_type, subject_id
    )
    metrics.lockout()


def _failed_login_subject(attempted: str, user: User | None) -> tuple[str, str]:
    """Who a failed sign-in was aimed at, without storing what was typed.

    People type their password into the name field; only a known account's id, or a digest
    of an unknown name (enough to correlate a guessing run), reaches the audit table.
    """
    if user is not None:
        return "user", str(user.pk)
    digest = lockout.login_digest(attempted)[:16]
    return "unknown_login", f"sha256:{digest}"


def sign_in_record(
    *,
    user: User,
    method: str,
    ip_address: str | None,
    data: dict[str, Any],
    events: Sequence[AuditEntry] = (),
    confirmed: bool = False,
    rows: NewRows | None = None,
) -> None:
    """Stamps `last_login` (unless `confirmed`: `sign_in_confirm` stamped it in this
    transaction) and audits the sign-in, with `events` of the same sign-in in the same
    insert (added to the sign-in's new `rows` when given: see `audit_record_many`); call
    inside the sign-in's transaction."""
    if not confirmed:
        User.objects.filter(pk=user.pk).update(last_login=timezone.now())
    signed_in = AuditEntry(
        type="login.succeeded",
        actor=user.pk,
        subject_type="user",
        subject_id=user.pk,
        ip_address=ip_address,
        data={"method": method, **data},
    )
    audit_record_many(entries=[signed_in, *events], rows=rows)

    def committed() -> None:
        # Counted and logged once stored: a sign-in whose rows fail to commit answers an
        # error, and is neither.
        metrics.sign_in("succeeded")
        logger.info("login.succeeded user=%s method=%s ip=%s", user.pk, method, ip_address)

    transaction.on_commit(committed)


def token_obtain_with_password(
    *,
    username: str,
    password: str,
    scope: str | None,
    ip_address: str | None,
    otp: str | None = None,
    resource: ServiceEntry | None = None,
) -> tokens.TokenPair:
    """Signs a user in with a password (and a code when MFA is on); the access token is for
    `resource` when one is named (the refresh token stays general).

    The password is checked first, so a wrong one never reveals whether the account has MFA.
    """
    account, subject = sign_in_account_check(
        username=username, password=password, ip_address=ip_address
    )
    user = account.user
    try:
        scopes = tokens.sign_in_scopes(
            user=user, requested=scope, resource=resource, memberships=account.memberships
        )
        # After the scope check, so a refused scope does not consume a backup code.
        amr = mfa_sign_in_step(user=user, otp=otp, ip_address=ip_address, factors=account.factors)
    except Exception:
        lockout.success_record(login=subject)  # the password was right all the same
        raise
    with transaction.atomic():
        sign_in_confirm(user=user)
        # The right password ends the run of failures with the sign-in it opens: without
        # Redis, one statement of this transaction rather than a transaction of its own.
        lockout.success_record(login=subject)
        # The family, its refresh token and the audit events are stored together at the end
        # of this block: one statement where the database allows it.
        with tokens.token_rows() as rows:
            pair = tokens.token_family_start(
                user=user,
                scopes=scopes,
                memberships=account.memberships,
                amr=amr,
                resource=resource,
                rows=rows,
            )
            issued = AuditEntry(
                type="token.issued",
                actor=user.pk,
                subject_type="token_family",
                subject_id=pair.family_id,
                ip_address=ip_address,
                data={"scope": pair.scope, "grant": "password", **audit_detail(resource)},
            )
            sign_in_record(
                user=user,
                method="password",
                ip_address=ip_address,
                data={"sid": str(pair.family_id)},
                events=[issued],
                confirmed=True,
                rows=rows,
            )
    metrics.token_issued(path="api", grant="password")
    return pair
