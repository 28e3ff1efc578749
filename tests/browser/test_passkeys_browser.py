"""Passkeys in a real Chromium, with the DevTools WebAuthn virtual authenticator: register on
the security page, sign in without a password (autofill and button), as the second factor
after a password (a U2F security key too), remove; and the refusals a browser can show.

The exact server-side checks (counters, challenges, throttles) are in
tests/authn/web/test_passkey_ceremonies.py; these prove the pages, the script and the
server work together in a browser.
"""

from __future__ import annotations

import base64
import secrets
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import User
from audit.models import AuditEvent
from authn.sessions.proof import AMR_KEY
from authn.sessions.store import SessionStore
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.live

# A security key speaking only the old U2F protocol: no discoverable credentials, no PIN.
U2F = {
    "protocol": "u2f",
    "transport": "usb",
    "hasResidentKey": False,
    "hasUserVerification": False,
    "isUserVerified": False,
}
# Without conditional UI the login page offers the button only: a resident credential with
# presence simulated would otherwise sign in as soon as the page opens.
BUTTON_ONLY = "PublicKeyCredential.isConditionalMediationAvailable = async () => false"
# Chromium logs every 4xx answer to a fetch; the script logs a refused ceremony.
REFUSED_REQUEST = "Failed to load resource: the server responded with a status of 4"
NOT_ALLOWED = "NotAllowedError"


def _password_step(page: Any, origin: str, user: User) -> None:
    page.goto(f"{origin}/accounts/login/")
    page.fill("input[name=username]", user.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("button[type=submit]")


def _register(page: Any, origin: str, name: str = "") -> None:
    """On the security page of a signed-in user: add a passkey, optionally named."""
    page.goto(f"{origin}/dashboard/security/")
    if name:
        page.fill("#id_passkey_name", name)
    page.click("#passkey-register-button")
    page.wait_for_selector("#passkey-register-status-message[data-status-enum=success]")
    # The page redraws the list once the name is saved.
    page.locator("#passkey-list tbody tr", has_text=name).first.wait_for()


def _registered_user(page: Any, origin: str, **user_fields: Any) -> User:
    """A user who signed in with the password, added a passkey and signed out again."""
    user = UserFactory.create(**user_fields)
    _password_step(page, origin, user)
    page.wait_for_url(f"{origin}/dashboard/")
    _register(page, origin)
    page.context.clear_cookies()
    return user


def _sign_in_with_button(page: Any, origin: str) -> Any:
    """Clicks "Sign in with a passkey" on the login page; answers the status element."""
    page.goto(f"{origin}/accounts/login/")
    page.click("#passkey-verification-button")
    return page.locator("#passkey-verification-status-message")


def _wait_for_status(page: Any, prefix: str, status: str) -> Any:
    selector = f"#passkey-{prefix}-status-message[data-status-enum={status}]"
    return page.wait_for_selector(selector)


def _session_amr(page: Any) -> list[str]:
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    return list(SessionStore(session_key=cookies["__Host-sessionid"])[AMR_KEY])


def _signed_out(page: Any, origin: str) -> bool:
    page.goto(f"{origin}/dashboard/")
    return "/accounts/login/" in page.url


def _csrf_headers(page: Any) -> dict[str, str]:
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies()}
    return {"X-CSRFToken": cookies["__Host-csrftoken"]}


# --- register, sign in, remove -----------------------------------------------------------


def test_register_a_named_passkey_on_the_security_page(
    page: Any, passkeys: str, cdp: Any, add_authenticator: Any
) -> None:
    authenticator = add_authenticator()
    user = UserFactory.create()
    _password_step(page, passkeys, user)
    page.wait_for_url(f"{passkeys}/dashboard/")
    _register(page, passkeys, name="Work laptop")

    # The first second factor comes with backup codes, shown this once.
    assert page.locator("#passkey-backup-codes-list li").count() == 10
    assert page.locator("#passkey-backup-codes").is_visible()
    page.reload()
    assert "Work laptop" in page.locator("#passkey-list").inner_text()
    assert page.locator("#passkey-backup-codes-list li").count() == 0

    passkey = WebAuthnCredential.objects.get(user=user)
    assert passkey.name == "Work laptop" and passkey.confirmed and passkey.discoverable
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert [c["isResidentCredential"] for c in credentials["credentials"]] == [True]
    assert AuditEvent.objects.filter(type="mfa.enrolled", subject_id=str(user.pk)).exists()


def test_passwordless_sign_in_through_autofill(
    page: Any, passkeys: str, add_authenticator: Any
) -> None:
    add_authenticator()
    _registered_user(page, passkeys)
    # Conditional UI: the authenticator answers the pending request as the page opens.
    page.goto(f"{passkeys}/accounts/login/")
    page.wait_for_url(f"{passkeys}/dashboard/")
    assert _session_amr(page) == ["hwk", "user"]


def test_passwordless_sign_in_with_the_button(
    page: Any, passkeys: str, add_authenticator: Any
) -> None:
    page.add_init_script(BUTTON_ONLY)
    add_authenticator()
    user = _registered_user(page, passkeys)
    _sign_in_with_button(page, passkeys)
    page.wait_for_url(f"{passkeys}/dashboard/")
    assert _session_amr(page) == ["hwk", "user"]
    event = AuditEvent.objects.filter(type="login.succeeded", subject_id=str(user.pk)).first()
    assert event is not None and event.data["amr"] == ["hwk", "user"]


def test_a_passkey_after_the_password_is_a_fresh_second_factor(
    page: Any, passkeys: str, add_authenticator: Any
) -> None:
    page.add_init_script(BUTTON_ONLY)
    add_authenticator()
    admin = _registered_user(page, passkeys, is_staff=True, is_superuser=True)
    _password_step(page, passkeys, admin)
    page.wait_for_url(f"{passkeys}/accounts/login/otp/")
    # The passkey is offered before the code form.
    button = page.locator("#passkey-verification-button").bounding_box()
    code = page.locator("input[name=otp_token]").bounding_box()
    assert button is not None and code is not None and button["y"] < code["y"]
    page.click("#passkey-verification-button")
    page.wait_for_url(f"{passkeys}/dashboard/")
    assert _session_amr(page) == ["pwd", "hwk", "user", "mfa"]
    # An api_admin key needs a second factor in the last 15 minutes: the passkey counts.
    response = page.request.post(
        f"{passkeys}/api/v1/api-keys",
        data={"name": "ops", "scopes": ["api_admin"]},
        headers=_csrf_headers(page),
    )
    assert response.status == 201, response.text()


def test_a_u2f_security_key_is_a_second_factor_only(
    page: Any, passkeys: str, add_authenticator: Any
) -> None:
    page.add_init_script(BUTTON_ONLY)
    page.allow_console_errors(NOT_ALLOWED)
    add_authenticator(**U2F)
    user = _registered_user(page, passkeys)
    passkey = WebAuthnCredential.objects.get(user=user)
    assert passkey.discoverable is False
    assert list(passkey.transports) == ["usb"]

    _password_step(page, passkeys, user)
    page.wait_for_url(f"{passkeys}/accounts/login/otp/")
    page.click("#passkey-verification-button")
    page.wait_for_url(f"{passkeys}/dashboard/")
    assert _session_amr(page) == ["pwd", "hwk", "mfa"]

    # It holds no discoverable credential, so it cannot sign in without the password.
    page.context.clear_cookies()
    _sign_in_with_button(page, passkeys)
    _wait_for_status(page, "verification", "not-allowed-or-aborted")
    assert _signed_out(page, passkeys)


def test_a_removed_passkey_no_longer_signs_in(
    page: Any, passkeys: str, add_authenticator: Any
) -> None:
    page.add_init_script(BUTTON_ONLY)
    page.allow_console_errors(REFUSED_REQUEST)
    add_authenticator()
    user = _registered_user(page, passkeys)
    # Removing needs a second factor in this sign-in: the passkey itself.
    _sign_in_with_button(page, passkeys)
    page.wait_for_url(f"{passkeys}/dashboard/")
    page.goto(f"{passkeys}/dashboard/security/")
    page.locator("#passkey-list").get_by_role("button", name="Remove").click()
    page.wait_for_url(f"{passkeys}/dashboard/security/#passkeys")
    assert "No passkeys yet" in page.locator("#passkeys").inner_text()
    assert not WebAuthnCredential.objects.filter(user=user).exists()
    page.context.clear_cookies()

    # The authenticator still holds the credential; the server no longer knows it.
    status = _sign_in_with_button(page, passkeys)
    _wait_for_status(page, "verification", "server-error")
    assert "not found" in status.inner_text().lower()
    assert _signed_out(page, passkeys)
    assert AuditEvent.objects.filter(
        type="login.failed", data__reason="unknown_credential"
    ).exists()


# --- refusals ------------------------------------------------------------------------------


def test_passwordless_sign_in_without_user_verification_is_refused(
    page: Any, passkeys: str, cdp: Any, add_authenticator: Any
) -> None:
    page.add_init_script(BUTTON_ONLY)
    page.allow_console_errors(REFUSED_REQUEST)
    authenticator = add_authenticator()
    _registered_user(page, passkeys)
    # The authenticator answers without the user-verified flag.
    cdp.send(
        "WebAuthn.setResponseOverrideBits", {"authenticatorId": authenticator, "isBadUV": True}
    )
    _sign_in_with_button(page, passkeys)
    _wait_for_status(page, "verification", "server-error")
    assert _signed_out(page, passkeys)


def test_a_credential_for_another_rp_id_is_not_offered(
    page: Any, passkeys: str, cdp: Any, add_authenticator: Any
) -> None:
    page.add_init_script(BUTTON_ONLY)
    page.allow_console_errors(NOT_ALLOWED)
    authenticator = add_authenticator()
    key = ec.generate_private_key(ec.SECP256R1())
    pkcs8 = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    credential = {
        "credentialId": base64.b64encode(secrets.token_bytes(16)).decode(),
        "isResidentCredential": True,
        "rpId": "other.test",
        "privateKey": base64.b64encode(pkcs8).decode(),
        "userHandle": base64.b64encode(secrets.token_bytes(16)).decode(),
        "signCount": 0,
    }
    cdp.send("WebAuthn.addCredential", {"authenticatorId": authenticator, "credential": credential})
    _sign_in_with_button(page, passkeys)
    _wait_for_status(page, "verification", "not-allowed-or-aborted")
    assert _signed_out(page, passkeys)


def test_a_replayed_assertion_is_refused(page: Any, passkeys: str, add_authenticator: Any) -> None:
    page.add_init_script(BUTTON_ONLY)
    add_authenticator()
    _registered_user(page, passkeys)
    page.goto(f"{passkeys}/accounts/login/")
    with page.expect_request("**/passkeys/login/complete/**") as captured:
        page.click("#passkey-verification-button")
    page.wait_for_url(f"{passkeys}/dashboard/")

    # The challenge was used: the same signed answer, sent again, is refused.
    replay = page.request.post(
        captured.value.url,
        data=captured.value.post_data,
        headers={"Content-Type": "application/json", **_csrf_headers(page)},
    )
    assert replay.status == 400, replay.text()
    assert replay.json()["code"] == "invalid_state"


def test_a_cloned_passkey_with_a_lower_counter_is_refused_and_disabled(
    page: Any, passkeys: str, add_authenticator: Any
) -> None:
    page.add_init_script(BUTTON_ONLY)
    page.allow_console_errors(REFUSED_REQUEST)
    add_authenticator()
    user = _registered_user(page, passkeys)
    # The server has seen a higher counter than the authenticator will send: a copy in use.
    WebAuthnCredential.objects.filter(user=user).update(sign_count=10_000)
    _sign_in_with_button(page, passkeys)
    _wait_for_status(page, "verification", "server-error")
    assert _signed_out(page, passkeys)
    assert WebAuthnCredential.objects.get(user=user).confirmed is False
    assert AuditEvent.objects.filter(type="mfa.passkey_cloned", subject_id=str(user.pk)).exists()


def test_a_bogus_signature_with_a_lower_counter_disables_nothing(
    page: Any, passkeys: str, cdp: Any, add_authenticator: Any
) -> None:
    page.add_init_script(BUTTON_ONLY)
    page.allow_console_errors(REFUSED_REQUEST)
    authenticator = add_authenticator()
    user = _registered_user(page, passkeys)
    WebAuthnCredential.objects.filter(user=user).update(sign_count=10_000)
    cdp.send(
        "WebAuthn.setResponseOverrideBits",
        {"authenticatorId": authenticator, "isBogusSignature": True},
    )
    _sign_in_with_button(page, passkeys)
    _wait_for_status(page, "verification", "server-error")
    assert _signed_out(page, passkeys)
    # Only its holder can prove a clone: a forged answer is a failed attempt, nothing more.
    assert WebAuthnCredential.objects.get(user=user).confirmed is True
    assert not AuditEvent.objects.filter(type="mfa.passkey_cloned").exists()
