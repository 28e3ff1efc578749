"""Self sign-up, email verification and password reset (README.md): a reset keeps the MFA of
the account and ends every sign-in; a new password passes the same validators as at sign-up.

Tokens are HMACs over the account's current state, so nothing secret is stored: a verification
token covers the user id, the address and its verified flag (used once, void after an email
change); a reset token is Django's, covering the password hash (used once). Requests that name
an address answer the same whether or not an account uses it.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from accounts import mailer, selectors, services
from accounts.models import EMAIL_MAX_LENGTH, User
from accounts.throttles import RateLimited as RateLimited  # the flows' refusal, re-exported
from accounts.throttles import over_limit, throttle
from audit.services import audit_record

VERIFY_SALT = "accounts.email_flows.verify_email"
VERIFICATION_MAX_AGE = timedelta(days=3)
password_reset_tokens = PasswordResetTokenGenerator()

# Fixed windows of one hour (accounts.throttles): (limit per client IP, limit per address).
SIGNUPS_PER_IP = 10
RESETS_PER_IP, RESETS_PER_ADDRESS = 20, 3
VERIFICATIONS_PER_IP, VERIFICATIONS_PER_ADDRESS = 20, 3


class SignupClosed(Exception):
    """Self sign-up is off (`MICRO_SIGNUP_OPEN=false`)."""


class InvalidToken(Exception):
    """Malformed, tampered, expired, used or superseded: indistinguishable on purpose."""


def _throttle_ip(bucket: str, ip_address: str | None, *, limit: int) -> None:
    throttle(f"{bucket}:ip", ip_address, limit=limit)


# --- Sign-up --------------------------------------------------------------------------------


def signup_open() -> bool:
    return bool(settings.MICRO_SIGNUP_OPEN)


def user_signup(
    *, username: str, email: str, password: str, display_name: str = "", ip_address: str | None
) -> User:
    """Creates an account while sign-up is open (password validated); emails a verification link."""
    if not signup_open():
        raise SignupClosed()
    _throttle_ip("signup", ip_address, limit=SIGNUPS_PER_IP)
    with transaction.atomic():
        user = services.user_create(
            actor=None,
            username=username,
            email=email,
            password=password,
            display_name=display_name,
            ip_address=ip_address,
            signed_up=True,
        )
        email_verification_send(user=user)
    return user


# --- Email verification -----------------------------------------------------------------------


def _addressee(user: User) -> dict[str, str]:
    """Plain values for an email's template (it is rendered later, on another thread)."""
    return {
        "name": mailer.addressee_name(display_name=user.display_name, username=user.username),
        "username": user.username,
        "email": user.email,
    }


def _verification_state(user: User) -> str:
    """An HMAC of what a verification token is bound to; it changes once the token is used."""
    state = f"{user.pk}:{user.email.lower()}:{user.email_verified}"
    return salted_hmac(VERIFY_SALT, state, algorithm="sha256").hexdigest()[:32]


def _link(view: str, **secret: str) -> str:
    """An emailed link: the page's URL under MICRO_ISSUER, its secret in the query string."""
    return f"{settings.MICRO_ISSUER}{reverse(view)}?{urlencode(secret)}"


def email_verification_token(*, user: User) -> str:
    return signing.dumps([user.pk.hex, _verification_state(user)], salt=VERIFY_SALT)


def email_verification_send(*, user: User) -> bool:
    """Emails a verification link to an active user's unverified address (after commit)."""
    if not user.is_active or not user.email or user.email_verified:
        return False
    token = email_verification_token(user=user)
    mailer.send_on_commit(
        template="verify_email",
        subject="Confirm your email address",
        to=user.email,
        context={
            **_addressee(user),
            # The secret goes in the query string: access logs keep paths only.
            "link": _link("selfservice:verify-email", token=token),
            "days": VERIFICATION_MAX_AGE.days,
        },
    )
    return True


def _check_length(email: str) -> None:
    """Refuses an address longer than any account's: cut short, it could name another account
    while the per-address throttle counted the long string, a new key for each variant."""
    if len(email) > EMAIL_MAX_LENGTH:
        raise ValidationError(
            {"email": [f"At most {EMAIL_MAX_LENGTH} characters."]}, code="max_length"
        )


def email_verification_request(*, email: str, ip_address: str | None) -> None:
    """Re-sends the verification link; the caller cannot tell whether the address exists."""
    _check_length(email)
    _throttle_ip("verify", ip_address, limit=VERIFICATIONS_PER_IP)
    if over_limit("verify:address", email, limit=VERIFICATIONS_PER_ADDRESS):
        return  # silently: a 429 here would still be harmless, but silence also stops mail floods
    user = selectors.user_get_by_email(email=email)
    if user is not None:
        with transaction.atomic():
            email_verification_send(user=user)


def email_verification_user(*, token: str) -> User:
    """The active user a verification token designates, if it would verify now (no write)."""
    try:
        payload = signing.loads(token[:512], salt=VERIFY_SALT, max_age=VERIFICATION_MAX_AGE)
        user_hex, state = payload
        user = selectors.user_get(user_id=user_hex)
    except (signing.BadSignature, ValueError, TypeError) as exc:  # SignatureExpired included
        raise InvalidToken() from exc
    if user is None or not user.is_active or not isinstance(state, str):
        raise InvalidToken()
    if not constant_time_compare(state, _verification_state(user)):
        raise InvalidToken()
    return user


def email_verify(*, token: str) -> User:
    """Marks the address verified; the token works once, for that user and that address only."""
    user = email_verification_user(token=token)
    with transaction.atomic():
        # Conditional update: of two concurrent uses of one token, exactly one succeeds.
        updated = User.objects.filter(pk=user.pk, email=user.email, email_verified=False).update(
            email_verified=True, updated_at=timezone.now()
        )
        if not updated:
            raise InvalidToken()
        audit_record(type="email.verified", actor=user.pk, subject_type="user", subject_id=user.pk)
    user.email_verified = True
    return user


# --- Password reset ---------------------------------------------------------------------------


def password_reset_uid(user: User) -> str:
    return urlsafe_base64_encode(force_bytes(user.pk))


def password_reset_send(*, email: str, ip_address: str | None) -> None:
    """Emails a reset link if an active user has this address; same outcome either way."""
    _check_length(email)
    _throttle_ip("reset", ip_address, limit=RESETS_PER_IP)
    if over_limit("reset:address", email, limit=RESETS_PER_ADDRESS):
        return  # silently, whether or not the address exists: no oracle, no mail flood
    user = selectors.user_get_by_email(email=email)
    # Only a verified address receives resets: an address set without proof (by a stolen
    # credential, or mistyped at sign-up) must not become a way into the account.
    eligible = (
        user is not None and user.is_active and user.kind == User.Kind.USER and user.email_verified
    )
    with transaction.atomic():
        # Both branches write one event, so response time does not tell them apart.
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]
        audit_record(
            type="password.reset_requested",
            actor=None,
            subject_type="user" if eligible and user else "unknown_email",
            subject_id=user.pk if eligible and user else f"sha256:{digest}",
            ip_address=ip_address,
        )
        if eligible and user:
            _queue_reset_email(user)


def _queue_reset_email(user: User) -> None:
    code = f"{password_reset_uid(user)}.{password_reset_tokens.make_token(user)}"
    mailer.send_on_commit(
        template="password_reset",
        subject="Reset your password",
        to=user.email,
        context={
            **_addressee(user),
            "link": _link("selfservice:password-reset-link", code=code),
            "code": code,
            "minutes": settings.PASSWORD_RESET_TIMEOUT // 60,
        },
    )


def password_reset_user(*, uidb64: str, token: str) -> User:
    """The active user a reset link designates, if its token is valid now."""
    try:
        user = selectors.user_get(user_id=force_str(urlsafe_base64_decode(uidb64[:128])))
    except (ValueError, TypeError) as exc:
        raise InvalidToken() from exc
    if user is None or not user.is_active:
        raise InvalidToken()
    if not password_reset_tokens.check_token(user, token[:128]):
        raise InvalidToken()
    return user


def split_reset_code(code: str) -> tuple[str, str]:
    """`<uidb64>.<token>` (the code in the email) → its two parts; neither contains a dot."""
    uidb64, _, token = code.partition(".")
    if not uidb64 or not token:
        raise InvalidToken()
    return uidb64, token


def password_reset_complete(
    *, uidb64: str, token: str, new_password: str, ip_address: str | None = None
) -> User:
    """Sets a new password from a reset link, once; ends every sign-in and revokes every API
    key of the user (whoever knew the old password may have minted one); MFA and lockout
    stay."""
    user = password_reset_user(uidb64=uidb64, token=token)
    services.password_policy_check(new_password, user)
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        if not password_reset_tokens.check_token(locked, token):  # used concurrently
            raise InvalidToken()
        services.password_reset_apply(
            locked=locked,
            password=new_password,
            actor=locked.pk,
            ip_address=ip_address,
            data={"method": "reset"},
        )
    return locked
