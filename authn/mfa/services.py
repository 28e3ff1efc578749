"""Multi-factor authentication with django-otp: TOTP devices, single-use backup codes, and
the rules shared with passkeys (authn.mfa.passkeys).

Every path that accepts a code (token endpoint, RPC login, dashboard) goes through
`mfa_verify`, so single use, throttling and auditing hold everywhere; a passkey assertion
shares the same per-user budget of failures (`mfa_attempt_begin`, `mfa_failure_record`).

Storage: a TOTP device must keep its seed to compute codes, so `TOTPDevice.key` holds it
(django-otp's model); backup codes are django-otp `StaticToken` rows, but the `token` column
holds a keyed digest of the code, never the code (django-otp would store it in clear). Codes
are therefore verified here, not by `StaticDevice.verify_token`, which compares the column
with the input as is.
"""

from __future__ import annotations

import base64
import hmac
import logging
import secrets
import time
from base64 import b32encode
from dataclasses import dataclass
from datetime import timedelta

import segno
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.models import Device
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import User
from accounts.selectors import user_is_administrator
from audit.services import audit_record
from authn.credentials.services import user_credentials_revoke
from micro_platform.counters import counter_delete, counter_get, counter_incr
from micro_platform.identity import Principal
from micro_platform.sign_in import require_fresh_mfa, require_recent_sign_in

logger = logging.getLogger("micro.auth")

TOTP_DEVICE_NAME = "totp"
BACKUP_DEVICE_NAME = "backup"
BACKUP_CODE_COUNT = 10
# 31 letters and digits without look-alikes (0/o, 1/l/i); 10 of them carry ~49 bits.
BACKUP_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
BACKUP_CODE_LENGTH = 10
MFA_WINDOW_SECONDS = 5 * 60
MFA_DAY_SECONDS = 24 * 60 * 60
MFA_FAILURES_PER_DAY = 20
# Wrong codes an enrolment survives: a typo or a slow phone clock keeps the scanned secret;
# the last one discards it.
TOTP_ENROLMENT_TRIES = 5
# The life of an enrolment begun and not confirmed, and of its count of wrong codes: as long
# as a recent sign-in, which MFA changes need. An older unconfirmed device (its secret) is
# deleted, so tries never come back for the same secret.
TOTP_ENROLMENT_SECONDS = 15 * 60


class MfaRequired(Exception):
    """The password was right, the account has MFA, and no code was given (`message` says
    what the caller can give)."""

    default_message = "This account requires a one-time code (`otp`)."

    def __init__(self, message: str = default_message) -> None:
        super().__init__(message)
        self.message = message


# A passkey cannot be given to the token endpoint or the RPC login: a backup code can, and
# `micro login` signs in through the browser, where the passkey works.
PASSKEY_ONLY_MESSAGE = (
    "This account's second factor is a passkey, which works in the browser: sign in with"
    " `micro login`, or give one of your backup codes as `otp`."
)


class MfaInvalid(Exception):
    """The code is wrong, already used, or too old."""


class MfaCodeReused(MfaInvalid):
    """The TOTP code is right but its time step was already used: the next code will do."""


class MfaEnrolmentEnded(MfaInvalid):
    """The enrolment's last allowed wrong code: its secret is discarded; begin again."""


class MfaThrottled(Exception):
    """Too many wrong codes for this user; retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class MfaStateError(Exception):
    """The operation does not fit the user's MFA state (`code` says how)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TotpEnrolment:
    device_id: int
    secret: str
    otpauth_uri: str
    qr_svg: str


def user_has_mfa(*, user: User) -> bool:
    """True when the user has a second factor: a confirmed TOTP device or an enabled passkey."""
    return any(_factors(user))


def user_has_totp(*, user: User) -> bool:
    """True when the user has a confirmed TOTP device."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


def user_has_passkey(*, user: User) -> bool:
    """True when the user has a confirmed (enabled) passkey."""
    return WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()


MfaFactors = tuple[bool, bool]


def factor_annotations() -> dict[str, Exists]:
    """`has_totp` (a confirmed TOTP device) and `has_passkey` (an enabled passkey), as
    annotations of a user query: the second factors a password sign-in asks for."""
    return {
        "has_totp": Exists(TOTPDevice.objects.filter(user=OuterRef("pk"), confirmed=True)),
        "has_passkey": Exists(
            WebAuthnCredential.objects.filter(user=OuterRef("pk"), confirmed=True)
        ),
    }


def _factors(user: User) -> MfaFactors:
    """(has a confirmed TOTP device, has an enabled passkey), in one query: every password
    sign-in asks."""
    row = User.objects.filter(pk=user.pk).values_list(*factor_annotations().values()).first()
    return (bool(row[0]), bool(row[1])) if row is not None else (False, False)


def mfa_required(*, user: User) -> bool:
    """Whether the user must keep a second factor: with MICRO_MFA_REQUIRED_FOR_ADMINS, staff
    (admin site) and `api_admin` holders, whose sign-in is the most worth stealing."""
    if not settings.MICRO_MFA_REQUIRED_FOR_ADMINS:
        return False
    return user.is_staff or user_is_administrator(user=user)


# --- verification -------------------------------------------------------------------


def _limits() -> tuple[tuple[int, int], ...]:
    """(window seconds, wrong codes allowed in it): a short burst limit and a daily cap, so
    someone holding the password cannot grind through the code space over days."""
    return (
        (MFA_WINDOW_SECONDS, settings.MICRO_MFA_FAILURES_PER_USER),
        (MFA_DAY_SECONDS, MFA_FAILURES_PER_DAY),
    )


def _throttle_key(user: User, window: int) -> str:
    return f"mfa:failures:{user.pk}:{window}:{int(time.time()) // window}"


def _throttle_wait(user: User) -> int:
    """Seconds until the user may try a code again (0: now)."""
    now = int(time.time())
    waits = [
        max(1, (now // window + 1) * window - now)
        for window, limit in _limits()
        if counter_get(_throttle_key(user, window)) >= limit
    ]
    return max(waits, default=0)


def mfa_attempt_begin(user: User) -> None:
    """Counts an attempt before a code or a passkey assertion is checked, so concurrent
    guesses stay bounded; MfaThrottled past the limits."""
    wait = _throttle_wait(user)
    if wait:
        raise MfaThrottled(wait)
    counts = [
        (counter_incr(_throttle_key(user, window), window), limit) for window, limit in _limits()
    ]
    if any(count > limit for count, limit in counts):
        raise MfaThrottled(_throttle_wait(user) or 1)


def mfa_attempt_succeeded(user: User) -> None:
    """Clears the user's count of failures after a right code or a valid assertion."""
    counter_delete(*(_throttle_key(user, window) for window, _ in _limits()))


def mfa_failure_record(
    user: User, ip_address: str | None, *, device: str | None = None, reason: str | None = None
) -> None:
    """Audits a wrong second factor: `device` ("passkey") and `reason` (a short code, never
    what the client sent) when given."""
    data = {key: value for key, value in (("device", device), ("reason", reason)) if value}
    with transaction.atomic():
        audit_record(
            type="mfa.failed",
            actor=None,
            subject_type="user",
            subject_id=user.pk,
            ip_address=ip_address,
            data=data,
        )
    if reason:
        logger.info("mfa.failed user=%s ip=%s reason=%s", user.pk, ip_address, reason)
    else:
        logger.info("mfa.failed user=%s ip=%s", user.pk, ip_address)


def mfa_verify(*, user: User, code: str, ip_address: str | None) -> Device:
    """The device that accepts `code` (a TOTP code once, or an unused backup code, consumed).

    Wrong codes are audited and counted; past the limit every code is refused
    (MfaThrottled) until the window ends, so codes cannot be guessed.
    """
    mfa_attempt_begin(user)
    confirmed = TOTPDevice.objects.filter(user=user, confirmed=True)
    device = _totp_match(confirmed, code) or _backup_match(user, code)
    if device is None:
        mfa_failure_record(user, ip_address)
        if _totp_reused(user, code):
            raise MfaCodeReused()
        raise MfaInvalid()
    mfa_attempt_succeeded(user)
    return device


def _totp_match(devices: QuerySet[TOTPDevice], code: str) -> TOTPDevice | None:
    """The first of `devices` (one user's) that accepts `code`, if any."""
    code = code.strip().replace(" ", "")
    if not code.isdigit():
        return None
    # The row lock serialises concurrent uses of one code: django-otp's `last_t` check then
    # accepts it once.
    with transaction.atomic():
        device = devices.select_for_update().order_by("pk").first()
        if device is not None and device.verify_token(code):
            return device
    return None


def _totp_reused(user: User, code: str) -> bool:
    """Whether `code` is the confirmed device's code for a time step it already accepted,
    within the same drift window `verify_token` searches: a right code given twice."""
    code = code.strip().replace(" ", "")
    device = TOTPDevice.objects.filter(user=user, confirmed=True).order_by("pk").first()
    if device is None or device.last_t < 0 or not code.isdigit():
        return False
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    for offset in range(-device.tolerance, device.tolerance + 1):
        totp.drift = device.drift + offset
        step_code = f"{totp.token():0{device.digits}d}"
        if totp.t() <= device.last_t and hmac.compare_digest(step_code, code):
            return True
    return False


def _normalise_backup_code(code: str) -> str:
    return code.strip().lower().replace("-", "").replace(" ", "")


def _backup_digest(code: str, secret: str) -> str:
    """A keyed digest (90 bits) of a normalised backup code: what the database stores.

    The leading space keeps a leaked digest from working as a code through django-otp's
    own `StaticDevice.verify_token` (which compares the column with its input): every form
    and serializer strips surrounding whitespace, so no submitted token can equal it.
    """
    mac = salted_hmac("micro.mfa.backup-code", code, secret=secret, algorithm="sha256")
    return " " + base64.urlsafe_b64encode(mac.digest()).decode()[:15]


def _backup_match(user: User, code: str) -> StaticDevice | None:
    normalised = _normalise_backup_code(code)
    if len(normalised) != BACKUP_CODE_LENGTH:
        return None
    device = StaticDevice.objects.filter(user=user, name=BACKUP_DEVICE_NAME, confirmed=True).first()
    if device is None:
        return None
    # Digests under the current secret key and its fallbacks, so a key rotation keeps codes.
    keys = [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]
    digests = {_backup_digest(normalised, key) for key in keys}
    for token in StaticToken.objects.filter(device=device, token__in=digests):
        if not any(hmac.compare_digest(token.token, digest) for digest in digests):
            continue
        # Deleting by primary key is the single use: of two concurrent requests, one deletes.
        deleted, _ = StaticToken.objects.filter(pk=token.pk).delete()
        if deleted:
            return device
    return None


def mfa_sign_in_step(
    *, user: User, otp: str | None, ip_address: str | None, factors: MfaFactors | None = None
) -> tuple[str, ...]:
    """The `amr` of a sign-in whose password was right; MFA users must give a valid code (a
    TOTP code or a backup code; a passkey-only user, a backup code). `factors` are the
    user's (`factor_annotations`) when read with it, else they are read here."""
    has_totp, has_passkey = _factors(user) if factors is None else factors
    if not (has_totp or has_passkey):
        return ("pwd",)
    if not otp:
        raise MfaRequired() if has_totp else MfaRequired(PASSKEY_ONLY_MESSAGE)
    mfa_verify(user=user, code=otp, ip_address=ip_address)
    return ("pwd", "otp")


# --- enrolment -----------------------------------------------------------------------


def totp_begin(*, user: User, actor: Principal | None) -> TotpEnrolment:
    """A new unconfirmed TOTP device (replacing an unconfirmed one); refused when enrolled.

    Every MFA change needs a recent password sign-in (see recent_sign_in)."""
    require_recent_sign_in(actor=actor)
    if user_has_totp(user=user):
        raise MfaStateError("mfa_already_enrolled", "A confirmed TOTP device already exists.")
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed=False).delete()
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    counter_delete(_enrolment_key(device))  # a fresh count, whatever the database reuses
    return _enrolment_of(device)


def totp_pending_enrolment(*, user: User, actor: Principal | None) -> TotpEnrolment | None:
    """The enrolment begun and not yet confirmed (shown again after a wrong code), if any.

    Its secret is shown only to a principal that could confirm it (a recent password
    sign-in); an enrolment past its life is deleted and is not shown."""
    require_recent_sign_in(actor=actor)
    device = _pending_devices(user).order_by("pk").first()
    return _enrolment_of(device) if device is not None else None


def _pending_devices(user: User) -> QuerySet[TOTPDevice]:
    """The user's unconfirmed TOTP devices still within the enrolment's life; older ones
    (their secrets) are deleted first."""
    cutoff = timezone.now() - timedelta(seconds=TOTP_ENROLMENT_SECONDS)
    pending = TOTPDevice.objects.filter(user=user, confirmed=False)
    # A row without `created_at` predates django-otp's timestamps: long past the life.
    expired = pending.filter(Q(created_at__lt=cutoff) | Q(created_at__isnull=True))
    expired_ids = list(expired.values_list("pk", flat=True))
    if expired_ids:
        TOTPDevice.objects.filter(pk__in=expired_ids).delete()
        counter_delete(*(_enrolment_key_of(pk) for pk in expired_ids))
    return pending.filter(created_at__gte=cutoff)


def _enrolment_of(device: TOTPDevice) -> TotpEnrolment:
    uri = device.config_url
    return TotpEnrolment(
        device_id=device.pk,
        secret=b32encode(device.bin_key).decode(),
        otpauth_uri=uri,
        qr_svg=segno.make(uri, error="m").svg_inline(scale=4),
    )


def totp_confirm(*, user: User, otp: str, actor: Principal | None) -> list[str]:
    """Confirms the pending device with a current code; returns 10 fresh backup codes when it
    is the user's first second factor (none when a passkey came first: its codes stay).

    A wrong code keeps the pending secret (MfaInvalid) until the enrolment's last allowed
    one, which discards it (MfaEnrolmentEnded); the MFA throttle counts each as usual."""
    require_recent_sign_in(actor=actor)
    if user_has_totp(user=user):
        raise MfaStateError("mfa_already_enrolled", "A confirmed TOTP device already exists.")
    pending = _pending_devices(user)
    if not pending.exists():
        raise MfaStateError("mfa_not_pending", "Start the enrolment first.")
    mfa_attempt_begin(user)
    with transaction.atomic():
        # One transaction keeps the matched device locked until it is confirmed, so a
        # concurrent restart of the enrolment cannot delete it in between. Only a device
        # within the enrolment's life can match.
        device = _totp_match(pending, otp)
        codes = _enrolment_complete(user, device, actor) if device is not None else None
        ended = codes is None and _enrolment_wrong_code(user)
    if codes is None:
        mfa_failure_record(user, None)
        raise MfaEnrolmentEnded() if ended else MfaInvalid()
    mfa_attempt_succeeded(user)
    return codes


def _enrolment_key(device: TOTPDevice) -> str:
    return _enrolment_key_of(device.pk)


def _enrolment_key_of(device_id: int) -> str:
    return f"mfa:enrolment:{device_id}"


def _enrolment_wrong_code(user: User) -> bool:
    """Counts a wrong code against the pending enrolment; True when it was the last allowed
    one and the pending device (its secret) is deleted."""
    device = _pending_devices(user).order_by("pk").first()
    if device is None:
        return True
    key = _enrolment_key(device)
    if counter_incr(key, TOTP_ENROLMENT_SECONDS) < TOTP_ENROLMENT_TRIES:
        return False
    TOTPDevice.objects.filter(pk=device.pk).delete()
    counter_delete(key)
    return True


def _enrolment_complete(user: User, device: TOTPDevice, actor: Principal | None) -> list[str]:
    locked = User.objects.select_for_update().get(pk=user.pk)
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
    codes = mfa_factor_added(user=locked, actor=actor, other_factor=user_has_passkey(user=locked))
    audit_record(
        type="mfa.enrolled",
        actor=actor or user.pk,
        subject_type="user",
        subject_id=user.pk,
        data={"device": "totp"},
    )
    return codes or []


def mfa_factor_added(
    *, user: User, actor: Principal | None, other_factor: bool
) -> list[str] | None:
    """What a newly confirmed second factor brings when it is the first (no backup codes were
    issued yet, or no other enabled factor exists): 10 fresh backup codes, returned, and the
    end of the sign-ins made without it. None otherwise.

    The caller holds the account's row lock (`select_for_update`), so of two factors added at
    once exactly one is the first."""
    has_codes = StaticDevice.objects.filter(user=user, name=BACKUP_DEVICE_NAME).exists()
    if has_codes and other_factor:
        return None
    codes = _backup_codes_replace(user)
    # People turn MFA on when they fear an intruder: sign-ins made without it end, except the
    # caller's own (the dashboard re-keys its session; a token keeps its refresh family).
    keep = actor.session_id if actor is not None and actor.method == "jwt" else None
    user_credentials_revoke(user=user, keep_family=keep)
    return codes


def _backup_codes_replace(user: User) -> list[str]:
    StaticDevice.objects.filter(user=user, name=BACKUP_DEVICE_NAME).delete()
    device = StaticDevice.objects.create(user=user, name=BACKUP_DEVICE_NAME, confirmed=True)
    codes = [
        "".join(secrets.choice(BACKUP_CODE_ALPHABET) for _ in range(BACKUP_CODE_LENGTH))
        for _ in range(BACKUP_CODE_COUNT)
    ]
    StaticToken.objects.bulk_create(
        StaticToken(device=device, token=_backup_digest(code, settings.SECRET_KEY))
        for code in codes
    )
    return [f"{code[:5]}-{code[5:]}" for code in codes]


def _require_current_code(user: User, otp: str) -> None:
    mfa_verify(user=user, code=otp, ip_address=None)


def totp_remove(*, user: User, otp: str, actor: Principal | None) -> None:
    """Removes the TOTP device; needs a current code (or a backup code). The backup codes go
    too unless a passkey remains; the last factor of a user who must have MFA stays
    (MfaStateError `mfa_required`)."""
    require_recent_sign_in(actor=actor)
    if not user_has_totp(user=user):
        raise MfaStateError("mfa_not_enrolled", "No TOTP device is enrolled.")
    _require_current_code(user, otp)
    with transaction.atomic():
        # Locked as passkey removal locks it: two removals at once cannot both leave none.
        locked = User.objects.select_for_update().get(pk=user.pk)
        passkey_left = user_has_passkey(user=locked)
        mfa_factor_removable(user=locked, factor_left=passkey_left)
        TOTPDevice.objects.filter(user=locked).delete()
        mfa_factor_removed(
            user=locked, actor=actor, factor_left=passkey_left, data={"device": "totp"}
        )


def mfa_factor_removable(*, user: User, factor_left: bool) -> None:
    """Refuses (MfaStateError `mfa_required`) to remove the last second factor of a user who
    must keep one; `factor_left`: another enabled factor remains."""
    if not factor_left and mfa_required(user=user):
        raise MfaStateError(
            "mfa_required",
            "Your account must keep a second factor: add another before removing this one.",
        )


def mfa_factor_removed(
    *, user: User, actor: Principal | None, factor_left: bool, data: dict[str, object]
) -> None:
    """After a second factor is deleted (under the account's row lock): the backup codes go
    with the last factor, never while another remains; audited as `mfa.removed` (`data`)."""
    if not factor_left:
        StaticDevice.objects.filter(user=user, name=BACKUP_DEVICE_NAME).delete()
    audit_record(
        type="mfa.removed",
        actor=actor or user.pk,
        subject_type="user",
        subject_id=user.pk,
        data=data,
    )


def mfa_reset_by_admin(*, user: User, actor: Principal | None) -> None:
    """Account recovery for a lost authenticator: removes every device (TOTP, backup codes,
    passkeys), ends every sign-in.

    The administrator vouches for the person (out of band); the user signs in with the
    password alone and should enrol again at once. Audited as `mfa.removed` (via admin).
    """
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
        WebAuthnCredential.objects.filter(user=user).delete()
        user_credentials_revoke(user=user)
        audit_record(
            type="mfa.removed",
            actor=actor,
            subject_type="user",
            subject_id=user.pk,
            data={"device": "all", "via": "admin"},
        )


def backup_codes_regenerate(
    *, user: User, otp: str | None = None, actor: Principal | None
) -> list[str]:
    """Replaces every backup code with 10 new ones; needs a current code (`otp`), or without
    one, a sign-in with a second factor (a code or a passkey) in the last 15 minutes."""
    require_recent_sign_in(actor=actor)
    if not user_has_mfa(user=user):
        raise MfaStateError("mfa_not_enrolled", "No second factor is enrolled.")
    if otp:
        _require_current_code(user, otp)
    else:
        require_fresh_mfa(
            actor=actor,
            message="New backup codes need a current code, or a sign-in with a one-time code"
            " or a passkey in the last 15 minutes.",
        )
    with transaction.atomic():
        codes = _backup_codes_replace(user)
        audit_record(
            type="mfa.backup_codes_regenerated",
            actor=actor or user.pk,
            subject_type="user",
            subject_id=user.pk,
        )
    return codes


def backup_codes_remaining(*, user: User) -> int:
    return StaticToken.objects.filter(device__user=user, device__name=BACKUP_DEVICE_NAME).count()
