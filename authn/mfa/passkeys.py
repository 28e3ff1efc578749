"""Passkeys (WebAuthn credentials): a second factor, and with a discoverable credential that
verified its user, a sign-in without a password.

django-otp-webauthn provides the credential model (a django-otp device holding the public key
only), its migrations and the browser script; authn.mfa.webauthn holds the ceremonies (its
helper, with our checks). This module is what the rest of the service asks of passkeys.
Audit events name a passkey by its row id, never by its credential id or public key.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django_otp_webauthn.exceptions import InvalidState, OTPWebAuthnApiError
from django_otp_webauthn.models import WebAuthnCredential
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers.structs import CredentialDeviceType

from accounts.models import User
from audit.services import audit_record
from authn.mfa.services import (
    MfaStateError,
    mfa_factor_added,
    mfa_factor_removable,
    mfa_factor_removed,
    user_has_totp,
)
from authn.mfa.services import (
    user_has_passkey as user_has_passkey,  # defined with the other factor checks
)
from authn.models import ExternalIdentity
from micro_platform.identity import Principal
from micro_platform.sign_in import require_fresh_mfa, require_recent_sign_in

PASSKEY_NAME_MAX_LENGTH = 64
# The credential table's key is a BigAutoField: a larger id in a URL is no passkey (and must
# not reach PostgreSQL, which refuses it with an error).
_MAX_PASSKEY_ID = 2**63 - 1


class PasskeyNotFound(Exception):
    """No such passkey of this user."""


class PasskeyCloned(OTPWebAuthnApiError):
    """A valid assertion whose signature counter went backwards: the credential was copied.
    It is disabled and audited."""

    status_code = 403
    default_detail = _(
        "This passkey reported a use count lower than before, so a copy of it exists. It is"
        " disabled: sign in another way and remove it."
    )
    default_code = "passkey_cloned"


class CredentialExists(OTPWebAuthnApiError):
    """The credential is already registered (to this or another account)."""

    status_code = 409
    default_detail = _("This passkey is already registered.")
    default_code = "credential_exists"


class ChallengeExpired(InvalidState):
    """The ceremony began too long ago: its challenge is no longer accepted."""

    default_detail = _("The passkey request expired. Try again.")
    default_code = "challenge_expired"


def passkeys_of(*, user: User) -> Sequence[WebAuthnCredential]:
    """The user's passkeys, oldest first (disabled ones too)."""
    return list(WebAuthnCredential.objects.filter(user=user).order_by("created_at", "pk"))


def passkey_amr(
    *, device: WebAuthnCredential, verified: VerifiedAuthentication, with_password: bool
) -> tuple[str, ...]:
    """The `amr` values a passkey assertion adds: `swk` for a backup-eligible (synced)
    credential else `hwk`; `user` when the authenticator verified the user; `mfa` after a
    password."""
    synced = (
        device.backup_eligible
        or verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE
    )
    amr = ["swk" if synced else "hwk"]
    if verified.user_verified:
        amr.append("user")
    if with_password:
        amr.append("mfa")
    return tuple(amr)


def passkey_default_name(*, browser: str = "") -> str:
    """The name a passkey gets until its owner renames it: "Passkey on Chrome on Linux"."""
    name = f"Passkey on {browser}" if browser else "Passkey"
    return name[:PASSKEY_NAME_MAX_LENGTH]


def passkey_registered(
    *, user: User, device: WebAuthnCredential, actor: Principal | None, browser: str = ""
) -> list[str] | None:
    """Audits a new passkey and names it; on the user's first second factor, ends other
    sign-ins and returns 10 fresh backup codes (None otherwise).

    `browser` names the browser that registered it (authn.web.user_agents), for the default
    name "Passkey on <browser>"."""
    if device.user_id != user.pk:
        raise PasskeyNotFound()
    with transaction.atomic():
        # The row lock orders factors added at once: exactly one of them is the first.
        locked = User.objects.select_for_update().get(pk=user.pk)
        other_factor = (
            user_has_totp(user=locked)
            or WebAuthnCredential.objects.filter(user=locked, confirmed=True)
            .exclude(pk=device.pk)
            .exists()
        )
        if not device.name:
            device.name = passkey_default_name(browser=browser)
            WebAuthnCredential.objects.filter(pk=device.pk).update(name=device.name)
        codes = mfa_factor_added(user=locked, actor=actor, other_factor=other_factor)
        audit_record(
            type="mfa.enrolled",
            actor=actor or user.pk,
            subject_type="user",
            subject_id=user.pk,
            data={"device": "passkey", "credential": device.pk},
        )
    return codes


def _passkey_of(user: User, passkey_id: int) -> WebAuthnCredential:
    """The user's passkey with this id, its row locked; PasskeyNotFound for another's."""
    if not 0 < passkey_id <= _MAX_PASSKEY_ID:
        raise PasskeyNotFound()
    device = WebAuthnCredential.objects.select_for_update().filter(user=user, pk=passkey_id).first()
    if device is None:
        raise PasskeyNotFound()
    return device


def passkey_rename(*, user: User, passkey_id: int, name: str, actor: Principal | None) -> None:
    """Renames a passkey (1 to 64 printable characters); needs a recent sign-in."""
    require_recent_sign_in(actor=actor)
    name = name.strip()
    # Control characters (NUL, which PostgreSQL refuses, among them) make no name.
    printable = all(unicodedata.category(char) != "Cc" for char in name)
    if not name or len(name) > PASSKEY_NAME_MAX_LENGTH or not printable:
        raise ValidationError(
            {"name": [f"Give a name of 1 to {PASSKEY_NAME_MAX_LENGTH} characters."]},
            code="invalid",
        )
    with transaction.atomic():
        device = _passkey_of(user, passkey_id)
        WebAuthnCredential.objects.filter(pk=device.pk).update(name=name)
        audit_record(
            type="mfa.renamed",
            actor=actor or user.pk,
            subject_type="user",
            subject_id=user.pk,
            data={"device": "passkey", "credential": device.pk},
        )


def passkey_remove(*, user: User, passkey_id: int, actor: Principal | None, via: str) -> None:
    """Removes a passkey; an enabled one needs fresh MFA, a disabled one (a detected copy,
    no longer a factor) a recent sign-in; refuses the last way in or the last factor of a
    user who must have MFA (MfaStateError)."""
    with transaction.atomic():
        # The account's row is locked so that two removals (or a removal and a provider
        # unlink) at once cannot each count the other as the way left.
        locked = User.objects.select_for_update().get(pk=user.pk)
        device = _passkey_of(locked, passkey_id)
        if device.confirmed:
            require_fresh_mfa(
                actor=actor,
                message="Removing a passkey needs a sign-in with a one-time code or a passkey"
                " in the last 15 minutes.",
            )
        else:
            require_recent_sign_in(actor=actor)
        if _last_way_in(locked, device):
            raise MfaStateError(
                "last_sign_in_method",
                "This passkey is your only way to sign in: set a password or add another"
                " passkey first.",
            )
        others = WebAuthnCredential.objects.filter(user=locked, confirmed=True)
        factor_left = user_has_totp(user=locked) or others.exclude(pk=device.pk).exists()
        if device.confirmed:
            mfa_factor_removable(user=locked, factor_left=factor_left)
        device.delete()
        mfa_factor_removed(
            user=locked,
            actor=actor,
            factor_left=factor_left,
            data={"device": "passkey", "credential": passkey_id, "via": via},
        )


def _last_way_in(user: User, device: WebAuthnCredential) -> bool:
    """Whether `device` is a passwordless way in and the account would have none left: no
    other enabled discoverable passkey, no usable password, no link to an enabled provider."""
    if not (device.confirmed and device.discoverable):
        return False
    if (
        WebAuthnCredential.objects.filter(user=user, confirmed=True, discoverable=True)
        .exclude(pk=device.pk)
        .exists()
    ):
        return False
    if user.has_usable_password():
        return False
    return not ExternalIdentity.objects.filter(user=user, provider__enabled=True).exists()
