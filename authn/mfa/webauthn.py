"""WebAuthn ceremonies: django-otp-webauthn's helper with the checks a sign-in service needs.

py_webauthn does the cryptography; this subclass decides the options (a discoverable
credential preferred but not required, so security keys register as second factors; user
verification required for a passwordless sign-in, preferred otherwise), finds and locks the
credential, keeps its signature counter monotonic, tells a copied credential from a forged
assertion, and turns every malformed response into py_webauthn's Invalid*Response, so a
caller maps a short list of exceptions to 4xx and nothing a client sends becomes a 500.
Nothing here logs or audits a credential id, a public key or client data.
"""

from __future__ import annotations

import binascii
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone
from django_otp_webauthn import exceptions
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnCredential, as_credential_descriptors
from webauthn import base64url_to_bytes, verify_authentication_response
from webauthn.authentication.verify_authentication_response import VerifiedAuthentication
from webauthn.helpers import parse_authentication_credential_json
from webauthn.helpers.exceptions import (
    InvalidAuthenticationResponse,
    InvalidRegistrationResponse,
    WebAuthnException,
)
from webauthn.helpers.structs import (
    AuthenticationCredential,
    RegistrationCredential,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)
from webauthn.registration.verify_registration_response import VerifiedRegistration

from audit.services import audit_record
from authn.credentials.services import user_credentials_revoke
from authn.mfa.passkeys import CredentialExists, PasskeyCloned

# `sign_count` is a PositiveIntegerField: PostgreSQL's integer ends here, while an
# authenticator's counter is 32 bits unsigned. A larger counter is refused, not stored.
MAX_SIGN_COUNT = 2**31 - 1

# What garbage in a client's JSON makes the parsers and verifiers raise besides their own
# exceptions (a bad base64 string, a missing key, a list where an object belongs).
_MALFORMED = (
    WebAuthnException,
    binascii.Error,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    OverflowError,
)


class MicroWebAuthnHelper(WebAuthnHelper):
    """The registration and authentication ceremonies of passkeys (see the module docstring)."""

    def get_discoverable_credentials_preference(self) -> ResidentKeyRequirement:
        # Preferred, not required: a security key that cannot store the credential still
        # registers, as a second factor (it cannot sign in without a password).
        return ResidentKeyRequirement.PREFERRED

    def get_credential_display_name(self, user: AbstractBaseUser) -> str:
        return getattr(user, "display_name", "") or user.get_username()

    def get_generate_authentication_options_kwargs(
        self, *, user: AbstractBaseUser | None = None, require_user_verification: bool
    ) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_generate_authentication_options_kwargs(
            user=None, require_user_verification=require_user_verification
        )
        # Preferred rather than the library's "discouraged": a key that can verify its user
        # does, and the sign-in's `amr` says so.
        kwargs["user_verification"] = (
            UserVerificationRequirement.REQUIRED
            if require_user_verification
            else UserVerificationRequirement.PREFERRED
        )
        if user is not None:
            # Only enabled credentials are offered: a disabled (cloned) one cannot sign in.
            enabled = WebAuthnCredential.objects.filter(user=user, confirmed=True)
            kwargs["allow_credentials"] = as_credential_descriptors(
                enabled.order_by(F("last_used_at").desc(nulls_last=True), "pk")
            )
        return kwargs

    # --- registration -------------------------------------------------------------------

    def register_complete(
        self, user: AbstractBaseUser, state: dict[str, Any], data: dict[str, Any]
    ) -> WebAuthnCredential:
        """The new credential, saved; CredentialExists for a credential id already known (to
        this or another account); InvalidRegistrationResponse for anything else wrong."""
        try:
            # A savepoint, so a refused duplicate leaves the caller's transaction usable.
            with transaction.atomic():
                device: WebAuthnCredential = super().register_complete(user, state, data)
        except CredentialExists:
            raise
        except IntegrityError as exc:
            # Two registrations of one credential at once: the unique hash refused the second.
            raise CredentialExists() from exc
        except InvalidRegistrationResponse:
            raise
        except _MALFORMED as exc:
            raise InvalidRegistrationResponse("The registration response is malformed.") from exc
        return device

    def create_credential(
        self,
        user: AbstractBaseUser,
        response: VerifiedRegistration,
        parsed_credential: RegistrationCredential,
        original_data: dict[str, Any],
    ) -> WebAuthnCredential:
        device: WebAuthnCredential = super().create_credential(
            user, response, parsed_credential, original_data
        )
        if device.sign_count > MAX_SIGN_COUNT:
            raise InvalidRegistrationResponse("The signature counter is out of range.")
        sha256 = WebAuthnCredential.get_credential_id_sha256(device.credential_id)
        if WebAuthnCredential.objects.filter(credential_id_sha256=sha256).exists():
            raise CredentialExists()
        device.credential_id_sha256 = sha256
        return device

    # --- authentication -----------------------------------------------------------------

    def authenticate_complete(  # type: ignore[override]
        self, user: AbstractBaseUser | None, state: dict[str, Any], data: dict[str, Any]
    ) -> tuple[WebAuthnCredential, VerifiedAuthentication]:
        """The credential that signed the assertion and what it attested, its counter moved
        up. Raises CredentialNotFound, CredentialUserMismatch (a `user` given who does not own
        it), CredentialDisabled, PasskeyCloned (a valid signature whose counter went
        backwards: the credential is disabled and audited) or InvalidAuthenticationResponse."""
        credential = _parsed_assertion(data)
        with transaction.atomic():
            device = _locked_credential(credential.raw_id, user)
            try:
                verified = self._verify(credential, device, state, device.sign_count)
            except InvalidAuthenticationResponse:
                # py_webauthn refuses a counter that did not move up before it checks the
                # signature. Only a valid signature proves a copy of the key; a forged
                # assertion with a low counter is a plain refusal and changes nothing, or
                # anyone could disable anyone's passkey.
                clone = self._verify_ignoring_counter(credential, device, state)
                if clone is None:
                    raise
                _disable_cloned(device, clone)
            else:
                if verified.new_sign_count > MAX_SIGN_COUNT:
                    raise InvalidAuthenticationResponse("The signature counter is out of range.")
                _record_use(device, verified)
                return device, verified
        raise PasskeyCloned()

    def _verify(
        self,
        credential: AuthenticationCredential,
        device: WebAuthnCredential,
        state: dict[str, Any],
        sign_count: int,
    ) -> VerifiedAuthentication:
        try:
            return verify_authentication_response(
                credential=credential,
                credential_current_sign_count=sign_count,
                credential_public_key=bytes(device.public_key),
                expected_challenge=base64url_to_bytes(state["challenge"]),
                expected_rp_id=self.get_relying_party_domain(),
                expected_origin=self.get_allowed_origins(),
                require_user_verification=bool(state["require_user_verification"]),
            )
        except InvalidAuthenticationResponse:
            raise
        except _MALFORMED as exc:
            raise InvalidAuthenticationResponse("The assertion is malformed.") from exc

    def _verify_ignoring_counter(
        self, credential: AuthenticationCredential, device: WebAuthnCredential, state: dict
    ) -> VerifiedAuthentication | None:
        """The assertion verified with the counter check off, when it then passes: what
        failed was the counter alone."""
        if device.sign_count == 0:
            return None  # the counter check cannot have failed
        try:
            return self._verify(credential, device, state, 0)
        except InvalidAuthenticationResponse:
            return None


def _parsed_assertion(data: dict[str, Any]) -> AuthenticationCredential:
    try:
        return parse_authentication_credential_json(data)
    except _MALFORMED as exc:
        raise InvalidAuthenticationResponse("The assertion is malformed.") from exc


def _locked_credential(raw_id: bytes, user: AbstractBaseUser | None) -> WebAuthnCredential:
    """The credential with this id, its row locked until the transaction ends, so concurrent
    assertions read and write its counter one after the other."""
    sha256 = WebAuthnCredential.get_credential_id_sha256(raw_id)
    device = (
        WebAuthnCredential.objects.select_for_update().filter(credential_id_sha256=sha256).first()
    )
    if device is None:
        raise exceptions.CredentialNotFound()
    if user is not None and device.user_id != user.pk:
        raise exceptions.CredentialUserMismatch()
    if not device.confirmed:
        raise exceptions.CredentialDisabled()
    return device


def _record_use(device: WebAuthnCredential, verified: VerifiedAuthentication) -> None:
    """Stores the new counter (never lower than the stored one), the backup state and the
    time of use."""
    now = timezone.now()
    WebAuthnCredential.objects.filter(pk=device.pk).update(
        sign_count=Greatest(F("sign_count"), Value(verified.new_sign_count)),
        backup_state=verified.credential_backed_up,
        last_used_at=now,
    )
    device.sign_count = max(device.sign_count, verified.new_sign_count)
    device.backup_state = verified.credential_backed_up
    device.last_used_at = now


def _disable_cloned(device: WebAuthnCredential, clone: VerifiedAuthentication) -> None:
    """Disables a copied credential and ends every sign-in of its owner: whoever holds the
    copy may have signed in with it before the owner's key showed the counter going back."""
    WebAuthnCredential.objects.filter(pk=device.pk).update(confirmed=False)
    device.confirmed = False
    user_credentials_revoke(user=device.user, access_tokens=True)
    audit_record(
        type="mfa.passkey_cloned",
        actor=None,
        subject_type="user",
        subject_id=device.user_id,
        data={
            "credential": device.pk,
            "sign_count": clone.new_sign_count,
            "stored_sign_count": device.sign_count,
        },
    )
