"""Passkeys at the service level: the WebAuthn helper's checks (counters, clones, disabled and
foreign credentials, duplicates, malformed responses) and the passkey services' rules (amr,
first factor, rename, removal, admin reset, what counts as MFA and as a way in)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, connections, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp_webauthn import exceptions
from django_otp_webauthn.models import WebAuthnCredential
from rest_framework.test import APIClient
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse

from accounts.models import User
from accounts.principals import principal_for_user
from audit.models import AuditEvent
from authn.identity_providers.services import LastSignInMethod, external_identity_unlink
from authn.mfa import passkeys
from authn.mfa import services as mfa
from authn.mfa.passkeys import CredentialExists, PasskeyCloned, PasskeyNotFound
from authn.mfa.webauthn import MAX_SIGN_COUNT, MicroWebAuthnHelper
from authn.models import ExternalIdentity
from micro_platform.identity import Principal
from micro_platform.sign_in import FreshMfaRequired, RecentSignInRequired
from tests.authn.helpers import REFRESH_URL, TOKEN_URL
from tests.authn.identity_providers.helpers import link, provider_create
from tests.authn.mfa.passkey_helpers import SoftAuthenticator
from tests.authn.mfa_helpers import enrol, fresh_code
from tests.factories import DEFAULT_PASSWORD, UserFactory


@pytest.fixture(autouse=True)
def _passkeys_on(settings: Any) -> None:
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost:8000"]
    settings.MICRO_PASSKEYS_ENABLED = True


def helper() -> MicroWebAuthnHelper:
    return MicroWebAuthnHelper(RequestFactory().get("/"))


def register(
    user: User, key: SoftAuthenticator | None = None, **over: Any
) -> tuple[SoftAuthenticator, WebAuthnCredential]:
    """A credential registered for `user` through the helper (not yet named or audited)."""
    key = key or SoftAuthenticator()
    options, state = helper().register_begin(user)
    device = helper().register_complete(user, state, key.register(options, **over))
    return key, device


def sign_in(
    key: SoftAuthenticator, user: User | None = None, *, uv_required: bool = True, **over: Any
) -> tuple[WebAuthnCredential, Any]:
    options, state = helper().authenticate_begin(user=user, require_user_verification=uv_required)
    return helper().authenticate_complete(user, state, key.assert_(options, **over))


def personal(user: User, *amr: str, age: int = 0) -> Principal:
    return principal_for_user(
        user, method="session", amr=amr, auth_time=int(time.time()) - age, session_id="s"
    )


# --- options -------------------------------------------------------------------------------


def test_registration_prefers_a_discoverable_credential_and_asks_no_attestation(user):
    options, state = helper().register_begin(user)
    selection = options["authenticatorSelection"]
    assert selection["residentKey"] == "preferred"
    assert selection["userVerification"] == "preferred"
    assert options["attestation"] == "none"
    assert state["require_user_verification"] is False


def test_registration_excludes_the_users_credentials(user, other_user):
    key, _ = register(user)
    register(other_user)
    options, _ = helper().register_begin(user)
    assert [item["id"] for item in options["excludeCredentials"]] == [key.id]


def test_passwordless_options_require_user_verification_and_name_no_credential(user):
    register(user)
    options, state = helper().authenticate_begin(user=None, require_user_verification=True)
    assert options["userVerification"] == "required"
    assert options.get("allowCredentials", []) == []
    assert state["require_user_verification"] is True


def test_second_factor_options_prefer_verification_and_list_enabled_credentials(user):
    key, _ = register(user)
    _, disabled = register(user)
    WebAuthnCredential.objects.filter(pk=disabled.pk).update(confirmed=False)
    options, state = helper().authenticate_begin(user=user, require_user_verification=False)
    assert options["userVerification"] == "preferred"
    assert [item["id"] for item in options["allowCredentials"]] == [key.id]
    assert state["require_user_verification"] is False


# --- registration --------------------------------------------------------------------------


def test_registration_stores_the_public_key_flags_and_transports(user):
    key = SoftAuthenticator(resident=False, backup_eligible=True, backed_up=True)
    _, device = register(user, key, transports=("usb",))
    device.refresh_from_db()
    assert device.user == user and device.confirmed
    assert device.discoverable is False
    assert device.backup_eligible and device.backup_state
    assert device.transports == ["usb"]


def test_a_credential_registered_twice_is_credential_exists_not_a_database_error(user, other_user):
    key, _ = register(user)
    with pytest.raises(CredentialExists):
        register(other_user, key)
    assert WebAuthnCredential.objects.count() == 1


def test_a_concurrent_duplicate_is_credential_exists(user, monkeypatch):
    """Two registrations of one credential at once: the database's unique hash refuses the
    second after the check passed, still as CredentialExists, and the transaction lives on."""
    key = SoftAuthenticator()
    options, state = helper().register_begin(user)

    def duplicate_save(self: WebAuthnCredential, *args: Any, **kwargs: Any) -> None:
        raise IntegrityError("duplicate key value violates unique constraint")

    monkeypatch.setattr(WebAuthnCredential, "save", duplicate_save)
    with pytest.raises(CredentialExists):
        helper().register_complete(user, state, key.register(options))
    monkeypatch.undo()
    assert User.objects.filter(pk=user.pk).exists()  # the connection still answers


@pytest.mark.parametrize(
    "over",
    [
        {"uv": True, "up": False},
        {"rp_id": "other.test"},
        {"origin": "https://evil.test"},
        {"challenge": "AAAA"},
    ],
)
def test_a_wrong_registration_response_is_refused(user, over):
    with pytest.raises(InvalidRegistrationResponse):
        register(user, **over)
    assert not WebAuthnCredential.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "not json",
        {"id": "x", "rawId": "x", "type": "public-key", "response": {}},
        {
            "id": "@@",
            "rawId": "@@",
            "type": "public-key",
            "response": {"clientDataJSON": "@@", "attestationObject": "@@"},
        },
    ],
)
def test_a_malformed_registration_response_is_invalid_not_a_crash(user, body):
    _, state = helper().register_begin(user)
    with pytest.raises(InvalidRegistrationResponse):
        helper().register_complete(user, state, body)


def test_a_registration_counter_beyond_the_column_is_refused(user):
    with pytest.raises(InvalidRegistrationResponse):
        register(user, SoftAuthenticator(sign_count=MAX_SIGN_COUNT + 1))
    assert not WebAuthnCredential.objects.exists()


# --- authentication ------------------------------------------------------------------------


def test_passwordless_assertion_returns_the_credential_and_moves_its_counter(user):
    key, registered = register(user)
    device, verified = sign_in(key)
    assert device.pk == registered.pk and verified.user_verified
    device.refresh_from_db()
    assert device.sign_count == 1 and device.last_used_at is not None


def test_passwordless_without_user_verification_is_refused(user):
    key, _ = register(user)
    with pytest.raises(InvalidAuthenticationResponse):
        sign_in(key, uv=False)


def test_second_factor_accepts_an_assertion_without_user_verification(user):
    key, _ = register(user, SoftAuthenticator(resident=False))
    _, verified = sign_in(key, user, uv_required=False, uv=False)
    assert not verified.user_verified


@pytest.mark.parametrize(
    "over",
    [
        {"rp_id": "other.test"},
        {"origin": "https://evil.test"},
        {"challenge": "AAAA"},
        {"up": False},
        {"bad_signature": True},
    ],
)
def test_a_wrong_assertion_is_refused_and_changes_nothing(user, over):
    key, device = register(user)
    with pytest.raises(InvalidAuthenticationResponse):
        sign_in(key, **over)
    device.refresh_from_db()
    assert device.sign_count == 0 and device.confirmed and device.last_used_at is None


def test_an_unknown_credential_is_not_found(user):
    with pytest.raises(exceptions.CredentialNotFound):
        sign_in(SoftAuthenticator())


def test_a_disabled_credential_is_refused(user):
    key, device = register(user)
    WebAuthnCredential.objects.filter(pk=device.pk).update(confirmed=False)
    with pytest.raises(exceptions.CredentialDisabled):
        sign_in(key)


def test_another_users_credential_is_a_mismatch_in_the_second_factor(user, other_user):
    key, _ = register(other_user)
    register(user)
    options, state = helper().authenticate_begin(user=user, require_user_verification=False)
    with pytest.raises(exceptions.CredentialUserMismatch):
        helper().authenticate_complete(user, state, key.assert_(options))


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "{",
        {"id": "x", "rawId": "x", "type": "public-key", "response": {"userHandle": "@@@"}},
        {
            "id": "AA",
            "rawId": "AA",
            "type": "public-key",
            "response": {"clientDataJSON": "@", "authenticatorData": "@", "signature": "@"},
        },
    ],
)
def test_a_malformed_assertion_is_invalid_not_a_crash(user, body):
    _, state = helper().authenticate_begin(user=None, require_user_verification=True)
    with pytest.raises((InvalidAuthenticationResponse, exceptions.CredentialNotFound)):
        helper().authenticate_complete(None, state, body)


def test_a_valid_assertion_with_a_lower_counter_is_a_clone_disabled_and_audited(user):
    key, device = register(user)
    sign_in(key, sign_count=10)
    with pytest.raises(PasskeyCloned):
        sign_in(key, sign_count=7)
    device.refresh_from_db()
    assert not device.confirmed and device.sign_count == 10
    event = AuditEvent.objects.get(type="mfa.passkey_cloned")
    assert event.subject_id == str(user.pk)
    assert event.data == {"credential": device.pk, "sign_count": 7, "stored_sign_count": 10}
    with pytest.raises(exceptions.CredentialDisabled):
        sign_in(key, sign_count=11)


def test_a_clone_ends_every_sign_in_of_its_owner(user):
    """Whoever holds the copy may have signed in with it first: that sign-in ends too."""
    key, _, codes = registered(user)
    sign_in(key, sign_count=10)
    tokens = APIClient().post(
        TOKEN_URL,
        {"username": user.username, "password": DEFAULT_PASSWORD, "otp": codes[0]},
        format="json",
    )
    assert tokens.status_code == 200, tokens.content
    stamp = User.objects.get(pk=user.pk).security_stamp
    with pytest.raises(PasskeyCloned):
        sign_in(key, sign_count=7)
    assert User.objects.get(pk=user.pk).security_stamp != stamp  # dashboard sessions end
    refreshed = APIClient().post(
        REFRESH_URL, {"refresh_token": tokens.json()["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 401


def test_a_disabled_passkey_is_removed_after_a_recent_sign_in_without_a_second_factor(user):
    """A copy detected and disabled is no factor: its owner, who may have no other, removes it
    after an ordinary recent sign-in."""
    _, device, _ = registered(user)
    WebAuthnCredential.objects.filter(pk=device.pk).update(confirmed=False)
    passkeys.passkey_remove(user=user, passkey_id=device.pk, actor=personal(user, "pwd"), via="api")
    assert not WebAuthnCredential.objects.filter(pk=device.pk).exists()


def test_a_disabled_passkey_still_needs_a_recent_sign_in_to_remove(user):
    _, device, _ = registered(user)
    WebAuthnCredential.objects.filter(pk=device.pk).update(confirmed=False)
    with pytest.raises(RecentSignInRequired):
        passkeys.passkey_remove(
            user=user, passkey_id=device.pk, actor=personal(user, "pwd", age=3600), via="api"
        )
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


def test_a_forged_assertion_with_a_low_counter_neither_disables_nor_audits(user):
    """Anyone can send a low counter; without a valid signature it is a plain refusal, or
    anyone could disable anyone's passkey."""
    key, device = register(user)
    sign_in(key, sign_count=10)
    with pytest.raises(InvalidAuthenticationResponse):
        sign_in(key, sign_count=3, bad_signature=True)
    device.refresh_from_db()
    assert device.confirmed and device.sign_count == 10
    assert not AuditEvent.objects.filter(type="mfa.passkey_cloned").exists()


def test_a_replayed_counter_with_a_wrong_challenge_is_no_clone(user):
    key, device = register(user)
    sign_in(key, sign_count=5)
    with pytest.raises(InvalidAuthenticationResponse):
        sign_in(key, sign_count=5, challenge="AAAA")
    device.refresh_from_db()
    assert device.confirmed


def test_synced_passkeys_at_counter_zero_are_not_checked(user):
    key, device = register(user, SoftAuthenticator(backup_eligible=True, backed_up=True))
    for _ in range(3):
        sign_in(key, sign_count=0)
    device.refresh_from_db()
    assert device.confirmed and device.sign_count == 0


def test_a_counter_beyond_the_column_is_refused_not_a_database_error(user):
    key, device = register(user)
    with pytest.raises(InvalidAuthenticationResponse):
        sign_in(key, sign_count=MAX_SIGN_COUNT + 1)
    device.refresh_from_db()
    assert device.sign_count == 0 and device.confirmed


def test_the_stored_counter_never_moves_down(user, monkeypatch):
    """Concurrent assertions: one that read the counter before another stored a higher one
    must not write its lower value back."""
    key, device = register(user)
    original = MicroWebAuthnHelper._verify

    def verify_then_race(self: MicroWebAuthnHelper, *args: Any) -> Any:
        verified = original(self, *args)
        WebAuthnCredential.objects.filter(pk=device.pk).update(sign_count=50)
        return verified

    monkeypatch.setattr(MicroWebAuthnHelper, "_verify", verify_then_race)
    sign_in(key, sign_count=4)
    device.refresh_from_db()
    assert device.sign_count == 50


@pytest.mark.django_db(transaction=True)
def test_an_assertion_waits_for_a_concurrent_one_and_checks_the_counter_it_stored():
    """PostgreSQL: while another assertion of the same credential holds its row and stores a
    counter of 9, an assertion carrying 5 waits, then reads 9: a lower counter with a valid
    signature, a copy. Without the lock it would have read 0 and been accepted."""
    if connection.vendor != "postgresql":
        pytest.skip("row-level locking is exercised on PostgreSQL")
    user = UserFactory.create()
    key, device = register(user)
    options, state = helper().authenticate_begin(user=None, require_user_verification=True)
    early = key.assert_(options, sign_count=5)
    locked, outcome = threading.Event(), list[str]()

    def other_assertion_stores_nine() -> None:
        try:
            with transaction.atomic():
                WebAuthnCredential.objects.select_for_update().get(pk=device.pk)
                locked.set()
                time.sleep(1.0)
                WebAuthnCredential.objects.filter(pk=device.pk).update(sign_count=9)
        finally:
            connections.close_all()

    def assertion_meanwhile() -> None:
        try:
            locked.wait(10)
            helper().authenticate_complete(None, state, early)
            outcome.append("accepted")
        except PasskeyCloned:
            outcome.append("cloned")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=other_assertion_stores_nine),
        threading.Thread(target=assertion_meanwhile),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert outcome == ["cloned"]
    assert WebAuthnCredential.objects.get(pk=device.pk).sign_count == 9


# --- amr -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eligible", "uv", "with_password", "amr"),
    [
        (False, True, False, ("hwk", "user")),
        (True, True, False, ("swk", "user")),
        (False, True, True, ("hwk", "user", "mfa")),
        (False, False, True, ("hwk", "mfa")),
        (True, False, True, ("swk", "mfa")),
    ],
)
def test_passkey_amr(user, eligible, uv, with_password, amr):
    key, _ = register(user, SoftAuthenticator(backup_eligible=eligible))
    device, verified = sign_in(key, user, uv_required=False, uv=uv)
    assert passkeys.passkey_amr(device=device, verified=verified, with_password=with_password) == (
        amr
    )


# --- services ------------------------------------------------------------------------------


def registered(user: User, key: SoftAuthenticator | None = None, **over: Any) -> Any:
    """A passkey registered and recorded as the dashboard does: (key, device, backup codes)."""
    key, device = register(user, key, **over)
    codes = passkeys.passkey_registered(
        user=user, device=device, actor=personal(user, "pwd"), browser="Chrome on Linux"
    )
    device.refresh_from_db()
    return key, device, codes


def passwordless_only(user: User) -> User:
    user.set_unusable_password()
    user.save()
    return user


def test_the_first_passkey_brings_backup_codes_and_ends_other_sign_ins(user):
    stamp = user.security_stamp
    _, device, codes = registered(user)
    assert codes is not None and len(codes) == 10
    assert StaticToken.objects.filter(device__user=user).count() == 10
    user.refresh_from_db()
    assert user.security_stamp != stamp  # every other dashboard session ended
    assert device.name == "Passkey on Chrome on Linux"
    event = AuditEvent.objects.get(type="mfa.enrolled")
    assert event.data == {"device": "passkey", "credential": device.pk}


def test_a_further_passkey_keeps_the_backup_codes(user):
    _, _, codes = registered(user)
    stamp = User.objects.get(pk=user.pk).security_stamp
    _, _, again = registered(user)
    assert again is None
    assert User.objects.get(pk=user.pk).security_stamp == stamp
    assert StaticToken.objects.filter(device__user=user).count() == 10


def test_a_passkey_after_totp_is_no_first_factor(user):
    enrol(user)
    _, _, codes = registered(user)
    assert codes is None


def test_totp_after_a_passkey_keeps_the_passkeys_backup_codes(user):
    _, _, codes = registered(user)
    _, totp_codes = enrol(user)
    assert totp_codes == []
    assert StaticToken.objects.filter(device__user=user).count() == 10


def test_of_two_passkeys_registered_at_once_exactly_one_brings_backup_codes(user):
    """Both credentials are saved before either is recorded (two tabs): the first recorded is
    the first factor, the other finds its backup codes."""
    _, first = register(user)
    _, second = register(user)
    codes = passkeys.passkey_registered(user=user, device=first, actor=None)
    again = passkeys.passkey_registered(user=user, device=second, actor=None)
    assert codes is not None and len(codes) == 10 and again is None


def test_of_totp_and_a_passkey_added_at_once_exactly_one_brings_backup_codes(user):
    _, device = register(user)
    _, totp_codes = enrol(user)
    assert len(totp_codes) == 10
    assert passkeys.passkey_registered(user=user, device=device, actor=None) is None


def test_a_passkey_replacing_a_disabled_one_is_a_first_factor_again(user):
    _, cloned, _ = registered(user)
    WebAuthnCredential.objects.filter(pk=cloned.pk).update(confirmed=False)
    stamp = User.objects.get(pk=user.pk).security_stamp
    _, _, codes = registered(user)
    assert codes is not None and len(codes) == 10
    assert User.objects.get(pk=user.pk).security_stamp != stamp


def test_a_passkey_is_recorded_for_its_owner_only(user, other_user):
    _, device = register(user)
    with pytest.raises(PasskeyNotFound):
        passkeys.passkey_registered(user=other_user, device=device, actor=None)


def test_a_passkey_without_a_browser_is_named_passkey(user):
    _, device = register(user)
    passkeys.passkey_registered(user=user, device=device, actor=None)
    device.refresh_from_db()
    assert device.name == "Passkey"


def test_an_enabled_passkey_is_mfa_and_a_disabled_one_is_not(user):
    _, device, _ = registered(user)
    assert mfa.user_has_mfa(user=user) and passkeys.user_has_passkey(user=user)
    assert not mfa.user_has_totp(user=user)
    WebAuthnCredential.objects.filter(pk=device.pk).update(confirmed=False)
    assert not mfa.user_has_mfa(user=user) and not passkeys.user_has_passkey(user=user)
    assert [item.pk for item in passkeys.passkeys_of(user=user)] == [device.pk]


def test_a_passkey_only_password_sign_in_is_told_of_micro_login_or_a_backup_code(user):
    _, _, codes = registered(user)
    with pytest.raises(mfa.MfaRequired) as refused:
        mfa.mfa_sign_in_step(user=user, otp=None, ip_address=None)
    assert "micro login" in refused.value.message and "backup code" in refused.value.message
    assert mfa.mfa_sign_in_step(user=user, otp=codes[0], ip_address=None) == ("pwd", "otp")


def test_the_token_endpoint_tells_a_passkey_only_user_of_micro_login(user, password):
    _, _, codes = registered(user)
    api = APIClient()
    refused = api.post(TOKEN_URL, {"username": user.username, "password": password})
    assert refused.status_code == 401 and refused.json()["code"] == "mfa_required"
    assert "micro login" in refused.json()["detail"]
    signed_in = api.post(
        TOKEN_URL, {"username": user.username, "password": password, "otp": codes[0]}
    )
    assert signed_in.status_code == 200


def test_a_totp_user_is_asked_for_a_code_as_before(user):
    enrol(user)
    with pytest.raises(mfa.MfaRequired) as refused:
        mfa.mfa_sign_in_step(user=user, otp=None, ip_address=None)
    assert refused.value.message == mfa.MfaRequired.default_message


def test_a_passkey_failure_is_audited_with_its_device_and_reason(user):
    mfa.mfa_failure_record(user, "192.0.2.1", device="passkey", reason="invalid_assertion")
    event = AuditEvent.objects.get(type="mfa.failed")
    assert event.data == {"device": "passkey", "reason": "invalid_assertion"}


def test_rename(user):
    _, device, _ = registered(user)
    passkeys.passkey_rename(
        user=user, passkey_id=device.pk, name="  YubiKey 5 ", actor=personal(user, "pwd")
    )
    device.refresh_from_db()
    assert device.name == "YubiKey 5"
    event = AuditEvent.objects.get(type="mfa.renamed")
    assert event.data == {"device": "passkey", "credential": device.pk}


@pytest.mark.parametrize("name", ["", "   ", "x" * 65, "nul\x00byte", "tab\there"])
def test_a_passkey_name_is_1_to_64_printable_characters(user, name):
    _, device, _ = registered(user)
    with pytest.raises(ValidationError):
        passkeys.passkey_rename(
            user=user, passkey_id=device.pk, name=name, actor=personal(user, "pwd")
        )


def test_rename_needs_a_recent_sign_in_and_the_users_own_passkey(user, other_user):
    _, device, _ = registered(user)
    with pytest.raises(RecentSignInRequired):
        passkeys.passkey_rename(
            user=user, passkey_id=device.pk, name="n", actor=personal(user, "pwd", age=3600)
        )
    with pytest.raises(PasskeyNotFound):
        passkeys.passkey_rename(
            user=other_user, passkey_id=device.pk, name="n", actor=personal(other_user, "pwd")
        )


def test_remove_audits_and_drops_the_backup_codes_with_the_last_factor(user):
    _, device, _ = registered(user)
    passkeys.passkey_remove(
        user=user, passkey_id=device.pk, actor=personal(user, "pwd", "otp"), via="dashboard"
    )
    assert not WebAuthnCredential.objects.exists()
    assert not StaticDevice.objects.filter(user=user).exists()
    event = AuditEvent.objects.get(type="mfa.removed")
    assert event.data == {"device": "passkey", "credential": device.pk, "via": "dashboard"}


def test_remove_keeps_the_backup_codes_while_a_factor_remains(user):
    _, first, _ = registered(user)
    registered(user)
    passkeys.passkey_remove(user=user, passkey_id=first.pk, actor=None, via="command")
    assert StaticToken.objects.filter(device__user=user).count() == 10


def test_remove_needs_fresh_mfa(user):
    _, device, _ = registered(user)
    for actor in (personal(user, "pwd"), personal(user, "pwd", "otp", age=3600)):
        with pytest.raises(FreshMfaRequired):
            passkeys.passkey_remove(user=user, passkey_id=device.pk, actor=actor, via="api")
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


@pytest.mark.parametrize("passkey_id", [0, -1, 2**63, 10**30])
def test_remove_of_another_users_or_no_passkey_is_not_found(user, other_user, passkey_id):
    _, device, _ = registered(user)
    with pytest.raises(PasskeyNotFound):
        passkeys.passkey_remove(user=other_user, passkey_id=device.pk, actor=None, via="api")
    with pytest.raises(PasskeyNotFound):
        passkeys.passkey_remove(user=user, passkey_id=passkey_id, actor=None, via="api")
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


def test_the_last_passwordless_way_in_cannot_be_removed(user):
    _, device, _ = registered(passwordless_only(user))
    with pytest.raises(mfa.MfaStateError) as refused:
        passkeys.passkey_remove(user=user, passkey_id=device.pk, actor=None, via="api")
    assert refused.value.code == "last_sign_in_method"
    assert WebAuthnCredential.objects.filter(pk=device.pk).exists()


@pytest.mark.django_db(databases="__all__")
def test_a_passkey_may_go_when_another_way_in_remains(user):
    passwordless_only(user)
    _, first, _ = registered(user)
    _, second, _ = registered(user)
    passkeys.passkey_remove(user=user, passkey_id=first.pk, actor=None, via="api")
    link(user, provider_create("acme"))
    passkeys.passkey_remove(user=user, passkey_id=second.pk, actor=None, via="api")
    assert not WebAuthnCredential.objects.exists()


@pytest.mark.django_db(databases="__all__")
@pytest.mark.parametrize(
    "setting", ["MICRO_PASSKEYS_ENABLED", "OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN"]
)
def test_a_passkey_is_no_way_in_while_passkey_sign_in_is_off(settings, user, setting):
    """While the service does not accept a sign-in with a passkey alone, a passwordless
    passkey is no way in: the last provider link stays."""
    passwordless_only(user)
    identity = link(user, provider_create("acme"))
    registered(user)
    setattr(settings, setting, False)
    with pytest.raises(LastSignInMethod):
        external_identity_unlink(actor=None, identity=identity, via="dashboard")
    assert ExternalIdentity.objects.filter(pk=identity.pk).exists()


def test_a_security_key_is_no_way_in_and_may_go(user):
    _, device, _ = registered(passwordless_only(user), SoftAuthenticator(resident=False))
    passkeys.passkey_remove(user=user, passkey_id=device.pk, actor=None, via="api")
    assert not WebAuthnCredential.objects.exists()


def test_mfa_is_required_of_admins_only_with_the_setting(settings, user, admin_user):
    assert not mfa.mfa_required(user=admin_user)
    settings.MICRO_MFA_REQUIRED_FOR_ADMINS = True
    assert mfa.mfa_required(user=admin_user)
    assert not mfa.mfa_required(user=user)
    user.is_staff = True
    assert mfa.mfa_required(user=user)
    holder = User.objects.create_user("holder", scopes=["api_admin"])
    assert mfa.mfa_required(user=holder)


def test_the_required_last_factor_stays(settings, user):
    settings.MICRO_MFA_REQUIRED_FOR_ADMINS = True
    User.objects.filter(pk=user.pk).update(is_staff=True)
    user.refresh_from_db()
    _, device, _ = registered(user)
    with pytest.raises(mfa.MfaStateError) as refused:
        passkeys.passkey_remove(user=user, passkey_id=device.pk, actor=None, via="api")
    assert refused.value.code == "mfa_required"
    totp, _ = enrol(user)
    passkeys.passkey_remove(user=user, passkey_id=device.pk, actor=None, via="api")
    with pytest.raises(mfa.MfaStateError) as again:
        mfa.totp_remove(user=user, otp=fresh_code(totp), actor=None)
    assert again.value.code == "mfa_required"
    assert mfa.user_has_totp(user=user)


def test_totp_removal_keeps_the_backup_codes_while_a_passkey_remains(user):
    totp, _ = enrol(user)
    registered(user)
    mfa.totp_remove(user=user, otp=fresh_code(totp), actor=None)
    assert StaticToken.objects.filter(device__user=user).count() == 10
    assert mfa.user_has_mfa(user=user)


def test_the_admin_reset_removes_passkeys(user):
    registered(user)
    mfa.mfa_reset_by_admin(user=user, actor=None)
    assert not WebAuthnCredential.objects.filter(user=user).exists()
    assert not mfa.user_has_mfa(user=user)


def test_backup_codes_regenerate_after_a_fresh_second_factor_without_a_code(user):
    _, _, codes = registered(user)
    with pytest.raises(FreshMfaRequired):
        mfa.backup_codes_regenerate(user=user, actor=personal(user, "pwd"))
    fresh = mfa.backup_codes_regenerate(user=user, actor=personal(user, "pwd", "otp"))
    assert len(fresh) == 10 and set(fresh).isdisjoint(codes)
    by_code = mfa.backup_codes_regenerate(user=user, otp=fresh[0], actor=personal(user, "pwd"))
    assert len(by_code) == 10


def test_backup_codes_need_a_second_factor(user):
    with pytest.raises(mfa.MfaStateError):
        mfa.backup_codes_regenerate(user=user, actor=None)


@pytest.mark.django_db(databases="__all__")
def test_a_provider_link_may_go_while_a_passwordless_passkey_remains(user):
    passwordless_only(user)
    identity = link(user, provider_create("acme"))
    registered(user, SoftAuthenticator(resident=False))
    with pytest.raises(LastSignInMethod):
        external_identity_unlink(actor=None, identity=identity, via="dashboard")
    _, device, _ = registered(user)
    external_identity_unlink(actor=None, identity=identity, via="dashboard")
    assert not ExternalIdentity.objects.exists()
    # The passkey is now the last way in.
    with pytest.raises(mfa.MfaStateError):
        passkeys.passkey_remove(user=user, passkey_id=device.pk, actor=None, via="api")


def test_the_sign_in_step_asks_for_both_factors_in_one_query(user):
    """Every password sign-in asks whether the account has a second factor: one query, for the
    TOTP device and the passkey together."""
    with CaptureQueriesContext(connection) as queries:
        assert mfa.mfa_sign_in_step(user=user, otp=None, ip_address=None) == ("pwd",)
    assert len(queries) == 1
    registered(user)
    with CaptureQueriesContext(connection) as queries, pytest.raises(mfa.MfaRequired) as refused:
        mfa.mfa_sign_in_step(user=user, otp=None, ip_address=None)
    assert len(queries) == 1
    assert refused.value.message == mfa.PASSKEY_ONLY_MESSAGE
