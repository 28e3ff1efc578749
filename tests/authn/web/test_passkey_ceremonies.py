"""Passkey ceremonies through the dashboard's endpoints, with a software authenticator: a
sign-in without a password, a passkey after the password, registering; and every refusal
(4xx JSON, never a 5xx): the checks of the answer, single-use and short-lived challenges,
cloned credentials, lockout and throttles, CSRF."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from django.conf import settings
from django.test import Client, RequestFactory
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.models import User
from audit.models import AuditEvent
from authn.sessions.proof import AMR_KEY, AUTH_TIME_KEY, IDP_KEY
from authn.sessions.store import SessionStore
from authn.web.federation_views import _local_sign_in_since
from tests.authn.dashboard_helpers import LOGIN_URL, OTP_URL, sign_in
from tests.authn.mfa.passkey_helpers import SoftAuthenticator
from tests.authn.web.passkey_flows import (
    LOGIN_BEGIN,
    LOGIN_COMPLETE,
    ORIGIN,
    REGISTER_BEGIN,
    REGISTER_COMPLETE,
    VERIFY_BEGIN,
    VERIFY_COMPLETE,
    passkeys_on,
    post_json,
    register,
)
from tests.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def passkeys(settings: Any) -> None:
    passkeys_on(settings)


@pytest.fixture
def key() -> SoftAuthenticator:
    return SoftAuthenticator(rp_id="localhost", origin=ORIGIN)


@pytest.fixture
def owner(db: Any, key: SoftAuthenticator) -> User:
    """A user with one discoverable passkey, `key`."""
    user = UserFactory.create()
    register(user, key)
    return user


def passwordless(client: Client, key: SoftAuthenticator, **assertion: Any) -> Any:
    options = post_json(client, LOGIN_BEGIN).json()
    return post_json(client, LOGIN_COMPLETE, key.assert_(options, **assertion))


def password_step(client: Client, user: User) -> None:
    response = client.post(LOGIN_URL, {"username": user.username, "password": DEFAULT_PASSWORD})
    assert response["Location"] == OTP_URL


def second_factor(client: Client, key: SoftAuthenticator, **assertion: Any) -> Any:
    options = post_json(client, VERIFY_BEGIN).json()
    return post_json(client, VERIFY_COMPLETE, key.assert_(options, **assertion))


def events(type_: str, **data: Any) -> list[AuditEvent]:
    found = AuditEvent.objects.filter(type=type_)
    return [e for e in found if all(e.data.get(k) == v for k, v in data.items())]


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["code"] == code and body["status"] == status
    assert body["detail"] and body["title"]


def assert_signed_out(client: Client) -> None:
    assert client.get("/dashboard/")["Location"].startswith(LOGIN_URL)


# --- passwordless ---------------------------------------------------------------------


def test_a_passkey_signs_in_without_a_password(owner: User, key: SoftAuthenticator) -> None:
    client = Client()
    response = passwordless(client, key)
    assert response.status_code == 200, response.content
    device = WebAuthnCredential.objects.get(user=owner)
    assert response.json() == {"id": device.pk, "redirect_url": "/dashboard/"}
    assert client.session[AMR_KEY] == ["hwk", "user"]
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id  # django-otp verified
    assert client.get("/dashboard/").status_code == 200
    (event,) = events("login.succeeded", amr=["hwk", "user"])
    assert event.subject_id == str(owner.pk) and event.data["method"] == "session"


def test_the_redirect_follows_a_safe_next_only(owner: User, key: SoftAuthenticator) -> None:
    client = Client()
    options = post_json(client, LOGIN_BEGIN).json()
    response = post_json(
        client, f"{LOGIN_COMPLETE}?next=/dashboard/security/", key.assert_(options)
    )
    assert response.json()["redirect_url"] == "/dashboard/security/"
    other = Client()
    options = post_json(other, LOGIN_BEGIN).json()
    response = post_json(other, f"{LOGIN_COMPLETE}?next=https://evil.test/", key.assert_(options))
    assert response.json()["redirect_url"] == "/dashboard/"


@pytest.mark.parametrize("target", ["nowhere", "%EF%BF%BD", "%ED%A0%80"])
def test_a_next_that_is_no_url_leads_to_the_dashboard(
    owner: User, key: SoftAuthenticator, target: str
) -> None:
    client = Client()
    options = post_json(client, LOGIN_BEGIN).json()
    response = post_json(client, f"{LOGIN_COMPLETE}?next={target}", key.assert_(options))
    assert response.status_code == 200, response.content
    assert response.json()["redirect_url"] == "/dashboard/"


def test_passwordless_options_ask_for_user_verification_and_any_credential(
    db: Any,
) -> None:
    options = post_json(Client(), LOGIN_BEGIN).json()
    assert options["userVerification"] == "required"
    assert options.get("allowCredentials", []) == []
    assert options["rpId"] == "localhost"


def test_passwordless_without_user_verification_is_refused(
    owner: User, key: SoftAuthenticator
) -> None:
    client = Client()
    assert_error(passwordless(client, key, uv=False), 422, "invalid_authentication_response")
    assert_signed_out(client)
    assert events("login.failed", reason="invalid_assertion")


@pytest.mark.parametrize(
    "wrong",
    [{"rp_id": "other.test"}, {"origin": "https://evil.test"}, {"challenge": "AAAAAAAAAAAA"}],
    ids=["rp_id", "origin", "challenge"],
)
def test_an_answer_for_another_site_or_challenge_is_refused(
    owner: User, key: SoftAuthenticator, wrong: dict[str, str]
) -> None:
    client = Client()
    assert_error(passwordless(client, key, **wrong), 422, "invalid_authentication_response")
    assert_signed_out(client)


def test_a_challenge_answers_once(owner: User, key: SoftAuthenticator) -> None:
    client = Client()
    options = post_json(client, LOGIN_BEGIN).json()
    answer = key.assert_(options)
    assert post_json(client, LOGIN_COMPLETE, answer).status_code == 200
    assert_error(post_json(client, LOGIN_COMPLETE, answer), 400, "invalid_state")


@pytest.mark.parametrize("sign_count", [None, 0], ids=["counting", "synced"])
def test_a_challenge_answers_once_to_requests_at_once(
    owner: User, key: SoftAuthenticator, sign_count: int | None
) -> None:
    """Two requests that read the session before either took the challenge out (sent at
    once) do not both verify it: the second is refused, signs nobody in, and does not pass
    for a copied passkey."""
    client = Client()
    options = post_json(client, LOGIN_BEGIN).json()
    read_by_both = dict(client.session.items())
    answer = key.assert_(options, sign_count=sign_count)
    assert post_json(client, LOGIN_COMPLETE, answer).status_code == 200
    other = Client()
    session = other.session
    session.update(read_by_both)
    session.save()
    assert_error(post_json(other, LOGIN_COMPLETE, answer), 400, "invalid_state")
    assert_signed_out(other)
    assert WebAuthnCredential.objects.get(user=owner).confirmed
    assert not events("mfa.passkey_cloned")


def test_a_challenge_expires(
    owner: User, key: SoftAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client()
    options = post_json(client, LOGIN_BEGIN).json()
    real_time = time.time
    later = real_time() + settings.OTP_WEBAUTHN_TIMEOUT_SECONDS + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert_error(post_json(client, LOGIN_COMPLETE, key.assert_(options)), 400, "challenge_expired")
    assert_signed_out(client)


def test_a_challenge_of_another_purpose_is_refused(owner: User, key: SoftAuthenticator) -> None:
    client = Client()
    password_step(client, owner)
    options = post_json(client, LOGIN_BEGIN).json()
    session = client.session
    state = session["micro_passkey_state_login"]
    session["micro_passkey_state_verify"] = {**state, "user": str(owner.pk)}
    session.save()
    assert_error(post_json(client, VERIFY_COMPLETE, key.assert_(options)), 400, "invalid_state")


def test_a_lower_counter_disables_the_copied_passkey(owner: User, key: SoftAuthenticator) -> None:
    assert passwordless(Client(), key, sign_count=10).status_code == 200
    client = Client()
    assert_error(passwordless(client, key, sign_count=5), 403, "passkey_cloned")
    assert_signed_out(client)
    assert not WebAuthnCredential.objects.get(user=owner).confirmed
    assert events("mfa.passkey_cloned")
    assert_error(passwordless(Client(), key, sign_count=11), 403, "credential_disabled")


def test_a_removed_passkey_is_unknown(owner: User, key: SoftAuthenticator) -> None:
    WebAuthnCredential.objects.filter(user=owner).delete()
    client = Client()
    assert_error(passwordless(client, key), 404, "credential_not_found")
    assert_signed_out(client)
    assert events("login.failed", reason="unknown_credential", method="passkey")


def test_a_locked_account_refuses_its_passkey(owner: User, key: SoftAuthenticator) -> None:
    for _ in range(settings.MICRO_LOCKOUT_THRESHOLD):
        Client().post(LOGIN_URL, {"username": owner.username, "password": "wrong"})
    response = passwordless(Client(), key)
    assert_error(response, 429, "too_many_attempts")
    assert int(response["Retry-After"]) > 0


def test_failed_assertions_lock_the_account(owner: User, key: SoftAuthenticator) -> None:
    for _ in range(settings.MICRO_LOCKOUT_THRESHOLD):
        response = passwordless(Client(), key, bad_signature=True)
        assert_error(response, 422, "invalid_authentication_response")
    assert_error(passwordless(Client(), key), 429, "too_many_attempts")
    response = Client().post(LOGIN_URL, {"username": owner.username, "password": DEFAULT_PASSWORD})
    assert response.status_code == 429
    (locked,) = events("login.locked", method="passkey")
    assert locked.subject_id == str(owner.pk)


def test_beginning_is_limited_per_address(db: Any, settings: Any) -> None:
    settings.MICRO_PASSKEY_BEGINS_PER_IP = 2
    client = Client()
    assert post_json(client, LOGIN_BEGIN).status_code == 200
    assert post_json(client, LOGIN_BEGIN).status_code == 200
    response = post_json(client, LOGIN_BEGIN)
    assert_error(response, 429, "too_many_attempts")
    assert 0 < int(response["Retry-After"]) <= 60


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        "{}",
        '{"id": 1, "rawId": 2}',
        '{"id": "x", "rawId": "!!", "type": "public-key", "response": {}}',
        '{"id": "a", "rawId": "a", "type": "public-key", "response": {"clientDataJSON": "a",'
        ' "authenticatorData": "a", "signature": "a", "userHandle": "%%%"}}',
    ],
)
@pytest.mark.parametrize("url", [LOGIN_COMPLETE, VERIFY_COMPLETE, REGISTER_COMPLETE])
def test_garbage_answers_are_refused_not_errors(
    owner: User, key: SoftAuthenticator, body: str, url: str
) -> None:
    client = Client()
    if url == VERIFY_COMPLETE:
        password_step(client, owner)
    elif url == REGISTER_COMPLETE:
        sign_in(client, UserFactory.create())
    begin = {LOGIN_COMPLETE: LOGIN_BEGIN, VERIFY_COMPLETE: VERIFY_BEGIN}.get(url, REGISTER_BEGIN)
    post_json(client, begin)
    response = client.post(url, body, content_type="application/json")
    assert 400 <= response.status_code < 500, response.content
    assert response["Content-Type"].startswith("application/json")
    response = client.post(url, {"id": "form-encoded"})
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "body",
    [
        b"\x80\x81",  # not UTF-8
        b'{"id": "\xff"}',
        b"[" * 100_000 + b"]" * 100_000,  # nested deeper than the decoder goes
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"id": "\\ud800", "rawId": "\\udfff"}',  # lone surrogates
    ],
)
@pytest.mark.parametrize(
    "url",
    [LOGIN_BEGIN, LOGIN_COMPLETE, VERIFY_BEGIN, VERIFY_COMPLETE, REGISTER_BEGIN, REGISTER_COMPLETE],
)
def test_bodies_that_are_not_json_text_are_refused_not_errors(
    owner: User, key: SoftAuthenticator, body: bytes, url: str
) -> None:
    client = Client()
    if url in (VERIFY_BEGIN, VERIFY_COMPLETE):
        password_step(client, owner)
    elif url in (REGISTER_BEGIN, REGISTER_COMPLETE):
        sign_in(client, UserFactory.create())
    begin = {
        LOGIN_COMPLETE: LOGIN_BEGIN,
        VERIFY_COMPLETE: VERIFY_BEGIN,
        REGISTER_COMPLETE: REGISTER_BEGIN,
    }.get(url)
    if begin:
        post_json(client, begin)
    response = client.post(url, body, content_type="application/json")
    assert_error(response, 422, "malformed_request")


def test_only_post_is_answered(db: Any) -> None:
    assert Client().get(LOGIN_BEGIN).status_code == 405


def test_csrf_is_enforced_and_a_browser_with_the_token_signs_in(
    owner: User, key: SoftAuthenticator
) -> None:
    client = Client(enforce_csrf_checks=True)
    assert client.get(LOGIN_URL).status_code == 200
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    assert post_json(client, LOGIN_BEGIN).status_code == 403
    options = post_json(client, LOGIN_BEGIN, HTTP_X_CSRFTOKEN=token).json()
    answer = key.assert_(options)
    assert post_json(client, LOGIN_COMPLETE, answer).status_code == 403
    response = post_json(client, LOGIN_COMPLETE, answer, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200, response.content


def test_every_endpoint_is_404_while_passkeys_are_off(owner: User, settings: Any) -> None:
    settings.MICRO_PASSKEYS_ENABLED = False
    client = Client()
    sign_in(client, UserFactory.create())
    for url in (LOGIN_BEGIN, LOGIN_COMPLETE, VERIFY_BEGIN, VERIFY_COMPLETE):
        assert_error(post_json(client, url), 404, "not_found")
    for url in (REGISTER_BEGIN, REGISTER_COMPLETE):
        assert_error(post_json(client, url), 404, "not_found")


def test_passwordless_off_leaves_the_second_factor(
    owner: User, key: SoftAuthenticator, settings: Any
) -> None:
    settings.OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
    assert_error(post_json(Client(), LOGIN_BEGIN), 404, "not_found")
    assert_error(post_json(Client(), LOGIN_COMPLETE), 404, "not_found")
    client = Client()
    password_step(client, owner)
    assert second_factor(client, key).status_code == 200


@pytest.mark.parametrize(
    ("amr", "counts"),
    [
        (["pwd"], True),
        (["hwk", "user"], True),
        (["swk", "user"], True),
        (["pwd", "hwk", "mfa"], True),
        (["fed", "hwk", "mfa"], False),
        (["fed", "pwd"], False),
    ],
)
def test_a_local_passkey_sign_in_confirms_a_provider_link(
    owner: User, amr: list[str], counts: bool
) -> None:
    """Linking a provider to the account asks for a sign-in here since the link began: a
    passkey is one, as a password is; a federated sign-in is not, whatever its second factor."""
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.session[AMR_KEY] = amr
    request.session[AUTH_TIME_KEY] = int(time.time())
    if "fed" in amr:
        request.session[IDP_KEY] = "corp"
    request.user = owner
    assert _local_sign_in_since(request, int(time.time()) - 5) is counts


# --- second factor ----------------------------------------------------------------------


def test_a_passkey_after_the_password_signs_in(owner: User, key: SoftAuthenticator) -> None:
    client = Client()
    password_step(client, owner)
    options = post_json(client, VERIFY_BEGIN).json()
    assert options["userVerification"] == "preferred"
    assert [c["id"] for c in options["allowCredentials"]] == [key.id]
    response = post_json(client, VERIFY_COMPLETE, key.assert_(options))
    assert response.status_code == 200, response.content
    assert response.json()["redirect_url"] == "/dashboard/"
    assert client.session[AMR_KEY] == ["pwd", "hwk", "user", "mfa"]
    assert client.get("/dashboard/").status_code == 200
    assert client.get(OTP_URL)["Location"] == LOGIN_URL  # the pending step is gone


def test_a_second_factor_without_user_verification_passes(
    owner: User, key: SoftAuthenticator
) -> None:
    client = Client()
    password_step(client, owner)
    assert second_factor(client, key, uv=False).status_code == 200
    assert client.session[AMR_KEY] == ["pwd", "hwk", "mfa"]


def test_the_second_factor_needs_the_password_step(owner: User, key: SoftAuthenticator) -> None:
    assert_error(post_json(Client(), VERIFY_BEGIN), 403, "not_authenticated")
    assert_error(post_json(Client(), VERIFY_COMPLETE), 403, "not_authenticated")


def test_the_second_factor_expires_with_the_password_step(
    owner: User, key: SoftAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = Client()
    password_step(client, owner)
    options = post_json(client, VERIFY_BEGIN).json()
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 301)
    assert_error(post_json(client, VERIFY_COMPLETE, key.assert_(options)), 403, "not_authenticated")
    assert_signed_out(client)


def test_another_users_passkey_is_no_second_factor(owner: User, key: SoftAuthenticator) -> None:
    other = UserFactory.create()
    register(other, SoftAuthenticator(rp_id="localhost", origin=ORIGIN))
    client = Client()
    password_step(client, other)
    options = post_json(client, VERIFY_BEGIN).json()
    response = post_json(client, VERIFY_COMPLETE, key.assert_(options))
    assert_error(response, 403, "credential_user_mismatch")
    assert_signed_out(client)
    assert events("mfa.failed", device="passkey")


def test_failed_second_factors_are_throttled(owner: User, key: SoftAuthenticator) -> None:
    client = Client()
    password_step(client, owner)
    for _ in range(settings.MICRO_MFA_FAILURES_PER_USER):
        assert second_factor(client, key, bad_signature=True).status_code == 422
    response = second_factor(client, key)
    assert_error(response, 429, "too_many_attempts")
    assert int(response["Retry-After"]) > 0
    assert_signed_out(client)
    assert len(events("mfa.failed", reason="invalid_assertion")) == 5


# --- registration ---------------------------------------------------------------------


def test_the_first_passkey_comes_with_backup_codes(db: Any, key: SoftAuthenticator) -> None:
    user = UserFactory.create()
    first = register(user, key)
    assert len(first["backup_codes"]) == 10
    client = Client()
    password_step(client, user)
    assert second_factor(client, key).status_code == 200
    second = register(user, SoftAuthenticator(rp_id="localhost", origin=ORIGIN), client=client)
    assert "backup_codes" not in second
    assert WebAuthnCredential.objects.filter(user=user).count() == 2


def test_a_passkey_is_saved_with_its_audit_or_not_at_all(
    db: Any, key: SoftAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new passkey, its `mfa.enrolled` event, backup codes and the end of other sign-ins
    commit together: a failure in between leaves no unaudited second factor behind."""
    user = UserFactory.create()
    client = Client(raise_request_exception=False)
    sign_in(client, user)

    def failing(**kwargs: Any) -> None:
        raise RuntimeError("the audit write failed")

    monkeypatch.setattr("authn.web.passkey_views.passkey_registered", failing)
    options = post_json(client, REGISTER_BEGIN).json()
    assert post_json(client, REGISTER_COMPLETE, key.register(options)).status_code == 500
    assert not WebAuthnCredential.objects.filter(user=user).exists()


def test_registering_keeps_the_session(db: Any, key: SoftAuthenticator) -> None:
    client = Client()
    sign_in(client, UserFactory.create())
    options = post_json(client, REGISTER_BEGIN).json()
    assert post_json(client, REGISTER_COMPLETE, key.register(options)).status_code == 200
    assert client.get("/dashboard/security/").status_code == 200


def test_after_a_clone_disabled_the_only_passkey_a_password_sign_in_registers_a_new_one(
    owner: User, key: SoftAuthenticator
) -> None:
    """Backup codes alone, or a disabled passkey, are no factor the sign-in could ask for: the
    password sign-in is what the account has, and it may add a passkey again."""
    WebAuthnCredential.objects.filter(user=owner).update(confirmed=False)
    assert StaticDevice.objects.filter(user=owner).exists()  # its backup codes remain
    client = Client()
    sign_in(client, owner)
    options = post_json(client, REGISTER_BEGIN).json()
    response = post_json(client, REGISTER_COMPLETE, SoftAuthenticator().register(options))
    assert response.status_code == 200, response.content
    assert WebAuthnCredential.objects.filter(user=owner, confirmed=True).count() == 1


def test_a_passkey_registered_already_is_a_conflict(owner: User, key: SoftAuthenticator) -> None:
    client = Client()
    sign_in(client, UserFactory.create())
    options = post_json(client, REGISTER_BEGIN).json()
    response = post_json(client, REGISTER_COMPLETE, key.register(options))
    assert_error(response, 409, "credential_exists")


def test_registering_needs_a_signed_in_recent_session(
    db: Any, key: SoftAuthenticator, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_error(post_json(Client(), REGISTER_BEGIN), 403, "not_authenticated")
    client = Client()
    sign_in(client, UserFactory.create())
    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 16 * 60)
    assert_error(post_json(client, REGISTER_BEGIN), 403, "recent_sign_in_required")


def test_a_registration_answer_for_another_site_is_refused(db: Any, key: SoftAuthenticator) -> None:
    client = Client()
    user = UserFactory.create()
    sign_in(client, user)
    options = post_json(client, REGISTER_BEGIN).json()
    response = post_json(client, REGISTER_COMPLETE, key.register(options, origin="https://x.test"))
    assert response.status_code == 422
    assert not WebAuthnCredential.objects.filter(user=user).exists()


# --- pages ----------------------------------------------------------------------------

LOGIN_IDS = (
    'id="passkey-verification-placeholder"',
    '<template id="passkey-verification-available-template">',
    'id="passkey-verification-button"',
    'id="passkey-verification-status-message" class="passkey-status" role="status"',
    '<script id="otp_webauthn_config" type="application/json">',
    'src="/accounts/passkeys/jsi18n/"',
    'type="module" src="/static/django_otp_webauthn/otp_webauthn_auth.js"',
)


def _config(html: str) -> dict[str, Any]:
    start = html.index('<script id="otp_webauthn_config" type="application/json">')
    text = html[html.index(">", start) + 1 : html.index("</script>", start)]
    return dict(json.loads(text))


def test_the_sign_in_page_offers_a_passkey(db: Any) -> None:
    response = Client().get(LOGIN_URL)
    html = response.content.decode()
    assert response.status_code == 200
    for fragment in LOGIN_IDS:
        assert fragment in html, fragment
    assert "Sign in with a passkey" in html
    config = _config(html)
    assert config["beginAuthenticationUrl"] == LOGIN_BEGIN
    assert config["completeAuthenticationUrl"] == LOGIN_COMPLETE
    assert config["autocompleteLoginFieldSelector"] == "#id_username"
    assert config["csrfToken"]
    assert 'autocomplete="username"' in html  # the script adds "webauthn" (conditional UI)
    # The button is not inside the password form, so it never submits it.
    assert html.index("</form>") < html.index('id="passkey-verification-button"')


@pytest.mark.parametrize(
    "setting", ["MICRO_PASSKEYS_ENABLED", "OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN"]
)
def test_the_sign_in_page_hides_passkeys_when_off(db: Any, settings: Any, setting: str) -> None:
    setattr(settings, setting, False)
    response = Client().get(LOGIN_URL)
    html = response.content.decode()
    assert response.status_code == 200
    assert "passkey" not in html and "otp_webauthn" not in html


def test_the_code_page_offers_the_passkey_first(owner: User) -> None:
    client = Client()
    password_step(client, owner)
    response = client.get(OTP_URL)
    html = response.content.decode()
    assert response.status_code == 200
    for fragment in LOGIN_IDS:
        assert fragment in html, fragment
    assert html.index('id="passkey-verification-button"') < html.index("Use a code instead")
    assert html.index("Use a code instead") < html.index('name="otp_token"')
    assert "autofocus" not in html
    config = _config(html)
    assert config["beginAuthenticationUrl"] == VERIFY_BEGIN
    assert config["completeAuthenticationUrl"] == VERIFY_COMPLETE
    assert config["autocompleteLoginFieldSelector"] is None


def test_the_code_page_shows_no_passkey_when_off(owner: User, settings: Any) -> None:
    settings.MICRO_PASSKEYS_ENABLED = False
    client = Client()
    password_step(client, owner)
    html = client.get(OTP_URL).content.decode()
    assert "passkey-verification" not in html and "Use a code instead" not in html
    assert "autofocus" in html


def test_the_passkey_messages_load(db: Any) -> None:
    response = Client().get("/accounts/passkeys/jsi18n/")
    assert response.status_code == 200
    assert b"gettext" in response.content
