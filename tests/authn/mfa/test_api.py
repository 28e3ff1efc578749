"""MFA endpoints: enrolment, confirmation, removal, backup codes; single-use, throttled codes."""

from __future__ import annotations

import base64
import time
from binascii import unhexlify
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.principals import principal_for_user
from audit.models import AuditEvent
from authn.mfa import services as mfa
from micro_platform.sign_in import RecentSignInRequired
from tests.authn.mfa_helpers import (
    BACKUP_CODES_URL,
    CONFIRM_URL,
    MFA_URL,
    TOTP_URL,
    code_at,
    enrol,
    forget_used_codes,
    fresh_code,
)

NO_PROFILE = frozenset({"users:read"})


def test_begin_returns_an_unconfirmed_device_with_seed_uri_and_qr(user, user_client):
    response = user_client.post(TOTP_URL)
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"device_id", "secret", "otpauth_uri", "qr_svg"}
    device = TOTPDevice.objects.get(user=user)
    assert device.pk == body["device_id"] and not device.confirmed
    assert base64.b32decode(body["secret"]) == unhexlify(device.key)
    assert body["otpauth_uri"].startswith("otpauth://totp/Micro%3A" + user.username)
    assert f"secret={body['secret']}" in body["otpauth_uri"]
    assert body["qr_svg"].startswith("<svg")
    assert response["Cache-Control"] == "no-store"


def test_begin_again_replaces_the_unconfirmed_device(user, user_client):
    first = user_client.post(TOTP_URL).json()
    second = user_client.post(TOTP_URL).json()
    assert first["device_id"] != second["device_id"]
    assert list(TOTPDevice.objects.filter(user=user).values_list("pk", flat=True)) == [
        second["device_id"]
    ]


def test_begin_is_refused_when_a_confirmed_device_exists(user, user_client):
    enrol(user)
    response = user_client.post(TOTP_URL)
    assert response.status_code == 409
    assert response.json()["code"] == "mfa_already_enrolled"
    assert TOTPDevice.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", TOTP_URL),
        ("delete", TOTP_URL),
        ("post", CONFIRM_URL),
        ("post", BACKUP_CODES_URL),
        ("get", MFA_URL),
    ],
)
def test_mfa_endpoints_need_a_credential(anon_client, db, method, url):
    response = getattr(anon_client, method)(url, {"otp": "123456"}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", TOTP_URL),
        ("delete", TOTP_URL),
        ("post", CONFIRM_URL),
        ("post", BACKUP_CODES_URL),
        ("get", MFA_URL),
    ],
)
def test_mfa_endpoints_need_the_profile_scope(user, client_for, method, url):
    client = client_for(user, NO_PROFILE)
    response = getattr(client, method)(url, {"otp": "123456"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "insufficient_scope"
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_confirm_with_a_current_code_returns_ten_single_use_backup_codes(user, user_client):
    user_client.post(TOTP_URL)
    device = TOTPDevice.objects.get(user=user)
    response = user_client.post(CONFIRM_URL, {"otp": code_at(device)}, format="json")
    assert response.status_code == 200, response.content
    codes = response.json()["backup_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert response["Cache-Control"] == "no-store"
    device.refresh_from_db()
    assert device.confirmed
    assert mfa.user_has_mfa(user=user)
    assert mfa.backup_codes_remaining(user=user) == 10
    event = AuditEvent.objects.get(type="mfa.enrolled")
    assert event.subject_id == str(user.pk) and event.actor_id == user.pk


def test_backup_codes_are_stored_only_as_digests(user):
    _, codes = enrol(user)
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10
    plain = set(codes) | {code.replace("-", "") for code in codes}
    assert not stored & plain
    assert all(not any(code.replace("-", "") in token for code in codes) for token in stored)


def test_confirm_with_a_wrong_code_is_refused_and_audited(user, user_client):
    user_client.post(TOTP_URL)
    device = TOTPDevice.objects.get(user=user)
    wrong = f"{(int(code_at(device)) + 1) % 1_000_000:06d}"
    response = user_client.post(CONFIRM_URL, {"otp": wrong}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "mfa_invalid"
    device.refresh_from_db()
    assert not device.confirmed
    event = AuditEvent.objects.get(type="mfa.failed")
    assert event.subject_id == str(user.pk)
    assert wrong not in str(event.data)


def test_a_wrong_confirm_code_keeps_the_enrolment_for_a_few_tries(user, user_client):
    user_client.post(TOTP_URL)
    device = TOTPDevice.objects.get(user=user)
    wrong = f"{(int(code_at(device)) + 1) % 1_000_000:06d}"
    for _ in range(mfa.TOTP_ENROLMENT_TRIES - 1):
        response = user_client.post(CONFIRM_URL, {"otp": wrong}, format="json")
        assert response.json()["errors"]["otp"] == ["The code is invalid."]
    assert user_client.post(CONFIRM_URL, {"otp": code_at(device)}, format="json").status_code == 200
    assert mfa.user_has_mfa(user=user)


def test_the_last_wrong_confirm_code_ends_the_enrolment(user, user_client):
    user_client.post(TOTP_URL)
    device = TOTPDevice.objects.get(user=user)
    wrong = f"{(int(code_at(device)) + 1) % 1_000_000:06d}"
    for _ in range(mfa.TOTP_ENROLMENT_TRIES - 1):
        user_client.post(CONFIRM_URL, {"otp": wrong}, format="json")
    last = user_client.post(CONFIRM_URL, {"otp": wrong}, format="json")
    assert last.status_code == 400 and last.json()["code"] == "mfa_invalid"
    assert "start it again" in last.json()["errors"]["otp"][0]
    assert not TOTPDevice.objects.filter(user=user).exists()
    again = user_client.post(CONFIRM_URL, {"otp": code_at(device)}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "mfa_not_pending"


def test_a_new_enrolment_starts_with_every_try(user, user_client):
    user_client.post(TOTP_URL)
    for _ in range(mfa.TOTP_ENROLMENT_TRIES - 1):
        user_client.post(CONFIRM_URL, {"otp": "000000"}, format="json")
    user_client.post(TOTP_URL)
    user_client.post(CONFIRM_URL, {"otp": "000000"}, format="json")
    assert TOTPDevice.objects.filter(user=user, confirmed=False).exists()


def test_a_reused_code_says_wait_for_the_next_code(user, user_client):
    device, _ = enrol(user)
    code = fresh_code(device)
    assert user_client.post(BACKUP_CODES_URL, {"otp": code}, format="json").status_code == 200
    response = user_client.delete(TOTP_URL, {"otp": code}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "mfa_invalid"
    message = "This code was already used; wait for the next code."
    assert response.json()["errors"]["otp"] == [message]
    assert mfa.user_has_mfa(user=user)


def test_confirm_without_a_pending_device_is_a_conflict(user, user_client):
    response = user_client.post(CONFIRM_URL, {"otp": "123456"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "mfa_not_pending"


@pytest.mark.parametrize(
    "body",
    [{}, {"otp": ""}, {"otp": "1" * 65}, {"otp": ["123456"]}, {"otp": "123456", "extra": 1}],
)
def test_confirm_with_bad_input_is_a_400_problem(user, user_client, body):
    user_client.post(TOTP_URL)
    response = user_client.post(CONFIRM_URL, body, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_confirm_with_a_code_from_another_device_fails(user, other_user, user_client):
    other_device, _ = enrol(other_user)
    user_client.post(TOTP_URL)
    response = user_client.post(CONFIRM_URL, {"otp": code_at(other_device, 30)}, format="json")
    assert response.status_code == 400


def test_remove_with_a_current_code_deletes_device_and_backup_codes(user, user_client):
    device, _ = enrol(user)
    response = user_client.delete(TOTP_URL, {"otp": fresh_code(device)}, format="json")
    assert response.status_code == 204, response.content
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not StaticToken.objects.filter(device__user=user).exists()
    assert not mfa.user_has_mfa(user=user)
    assert AuditEvent.objects.filter(type="mfa.removed", subject_id=str(user.pk)).exists()


def test_remove_accepts_a_backup_code(user, user_client):
    _, codes = enrol(user)
    response = user_client.delete(TOTP_URL, {"otp": codes[0]}, format="json")
    assert response.status_code == 204
    assert not mfa.user_has_mfa(user=user)


def test_remove_without_a_code_is_refused_and_mfa_stays(user, user_client):
    """Removing MFA requires a current code."""
    enrol(user)
    response = user_client.delete(TOTP_URL, {}, format="json")
    assert response.status_code == 400
    assert mfa.user_has_mfa(user=user)


def test_remove_with_a_wrong_or_old_code_is_refused(user, user_client):
    device, _ = enrol(user)
    forget_used_codes(device)
    response = user_client.delete(TOTP_URL, {"otp": code_at(device, -90)}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "mfa_invalid"
    assert mfa.user_has_mfa(user=user)


def test_remove_service_needs_a_current_code(user):
    """A current code, at the service layer every caller (API, dashboard, reset flow) uses."""
    device, _ = enrol(user)
    with pytest.raises(mfa.MfaInvalid):
        mfa.totp_remove(user=user, otp="000000" if code_at(device) != "000000" else "1", actor=None)
    assert mfa.user_has_mfa(user=user)
    mfa.totp_remove(user=user, otp=fresh_code(device), actor=None)
    assert not mfa.user_has_mfa(user=user)


def test_remove_when_not_enrolled_is_a_conflict(user, user_client):
    response = user_client.delete(TOTP_URL, {"otp": "123456"}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "mfa_not_enrolled"


def test_status_reports_enrolment_and_remaining_codes(user, user_client):
    assert user_client.get(MFA_URL).json() == {
        "totp": False,
        "mfa": False,
        "passkeys": [],
        "backup_codes_remaining": 0,
    }
    _, codes = enrol(user)
    mfa.mfa_verify(user=user, code=codes[0], ip_address=None)
    assert user_client.get(MFA_URL).json() == {
        "totp": True,
        "mfa": True,
        "passkeys": [],
        "backup_codes_remaining": 9,
    }


def test_regenerating_backup_codes_invalidates_the_old_ones(user, user_client):
    device, old = enrol(user)
    response = user_client.post(BACKUP_CODES_URL, {"otp": fresh_code(device)}, format="json")
    assert response.status_code == 200, response.content
    new = response.json()["backup_codes"]
    assert len(new) == 10 and not set(new) & set(old)
    with pytest.raises(mfa.MfaInvalid):
        mfa.mfa_verify(user=user, code=old[1], ip_address=None)
    assert mfa.mfa_verify(user=user, code=new[1], ip_address=None).persistent_id
    assert AuditEvent.objects.filter(type="mfa.backup_codes_regenerated").count() == 1


def test_regenerating_backup_codes_needs_a_valid_code(user, user_client):
    _, old = enrol(user)
    response = user_client.post(BACKUP_CODES_URL, {"otp": "not-a-code"}, format="json")
    assert response.status_code == 400
    assert mfa.backup_codes_remaining(user=user) == 10


def test_the_same_totp_code_is_accepted_once(user):
    """A TOTP code is accepted once."""
    device, _ = enrol(user)
    code = fresh_code(device)
    assert mfa.mfa_verify(user=user, code=code, ip_address=None) == device
    with pytest.raises(mfa.MfaInvalid):
        mfa.mfa_verify(user=user, code=code, ip_address=None)


def test_a_code_from_90_seconds_ago_is_rejected(user):
    """Only the previous, current and next 30-second steps are accepted."""
    device, _ = enrol(user)
    forget_used_codes(device)
    with pytest.raises(mfa.MfaInvalid):
        mfa.mfa_verify(user=user, code=code_at(device, -90), ip_address=None)
    assert mfa.mfa_verify(user=user, code=code_at(device, -30), ip_address=None) == device


def test_a_backup_code_is_single_use_and_case_insensitive(user):
    _, codes = enrol(user)
    device = mfa.mfa_verify(user=user, code=f"  {codes[0].upper()} ", ip_address=None)
    assert device.name == mfa.BACKUP_DEVICE_NAME
    with pytest.raises(mfa.MfaInvalid):
        mfa.mfa_verify(user=user, code=codes[0], ip_address=None)
    assert mfa.backup_codes_remaining(user=user) == 9


def test_backup_codes_survive_a_secret_key_rotation(user, settings):
    _, codes = enrol(user)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-rotated-test-secret-key-of-sufficient-length-0123456789"
    assert mfa.mfa_verify(user=user, code=codes[0], ip_address=None)


def test_another_users_backup_code_is_refused(user, other_user):
    enrol(user)
    _, theirs = enrol(other_user)
    with pytest.raises(mfa.MfaInvalid):
        mfa.mfa_verify(user=user, code=theirs[0], ip_address=None)
    assert mfa.backup_codes_remaining(user=other_user) == 10


def test_repeated_wrong_codes_are_throttled_even_for_a_right_code(user):
    """Past the limit, every code is refused until the window ends."""
    device, codes = enrol(user)
    for _ in range(settings.MICRO_MFA_FAILURES_PER_USER):
        with pytest.raises(mfa.MfaInvalid):
            mfa.mfa_verify(user=user, code="000000x", ip_address="192.0.2.7")
    with pytest.raises(mfa.MfaThrottled) as raised:
        mfa.mfa_verify(user=user, code=fresh_code(device), ip_address="192.0.2.7")
    assert 0 < raised.value.retry_after <= mfa.MFA_WINDOW_SECONDS
    with pytest.raises(mfa.MfaThrottled):
        mfa.mfa_verify(user=user, code=codes[0], ip_address=None)
    assert mfa.backup_codes_remaining(user=user) == 10
    failed = AuditEvent.objects.filter(type="mfa.failed", subject_id=str(user.pk))
    assert failed.count() == settings.MICRO_MFA_FAILURES_PER_USER
    assert failed[0].ip_address == "192.0.2.7"


def test_throttled_confirm_answers_429_with_retry_after(user, user_client):
    user_client.post(TOTP_URL)
    for _ in range(settings.MICRO_MFA_FAILURES_PER_USER):
        assert user_client.post(CONFIRM_URL, {"otp": "x"}, format="json").status_code == 400
    # Wrong codes may have ended the enrolment (TOTP_ENROLMENT_TRIES): a new one is throttled.
    if not TOTPDevice.objects.filter(user=user).exists():
        user_client.post(TOTP_URL)
    device = TOTPDevice.objects.get(user=user)
    response = user_client.post(CONFIRM_URL, {"otp": code_at(device)}, format="json")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= mfa.MFA_WINDOW_SECONDS


def test_the_throttle_is_per_user(user, other_user):
    enrol(user)
    other_device, _ = enrol(other_user)
    for _ in range(settings.MICRO_MFA_FAILURES_PER_USER):
        with pytest.raises(mfa.MfaInvalid):
            mfa.mfa_verify(user=user, code="x", ip_address=None)
    assert mfa.mfa_verify(user=other_user, code=fresh_code(other_device), ip_address=None)


def test_codes_in_flight_count_against_the_limit(user):
    """Attempts are counted before the check: concurrent guesses cannot exceed the limit."""
    device, _ = enrol(user)
    for _ in range(settings.MICRO_MFA_FAILURES_PER_USER):
        mfa.mfa_attempt_begin(user)
    with pytest.raises(mfa.MfaThrottled):
        mfa.mfa_verify(user=user, code=fresh_code(device), ip_address=None)


def test_a_right_code_resets_the_count_of_wrong_ones(user):
    device, codes = enrol(user)
    for _ in range(settings.MICRO_MFA_FAILURES_PER_USER - 1):
        with pytest.raises(mfa.MfaInvalid):
            mfa.mfa_verify(user=user, code="x", ip_address=None)
    assert mfa.mfa_verify(user=user, code=codes[0], ip_address=None)
    for _ in range(settings.MICRO_MFA_FAILURES_PER_USER - 1):
        with pytest.raises(mfa.MfaInvalid):
            mfa.mfa_verify(user=user, code="x", ip_address=None)
    assert mfa.mfa_verify(user=user, code=fresh_code(device), ip_address=None) == device


def test_a_leaked_digest_is_not_a_code_anywhere(user, user_client):
    """A database dump holds digests; neither our paths nor django-otp's accept one."""
    from django_otp import match_token
    from django_otp.forms import OTPTokenForm

    _, codes = enrol(user)
    digest = StaticToken.objects.filter(device__user=user).values_list("token", flat=True)[0]
    with pytest.raises(mfa.MfaInvalid):
        mfa.mfa_verify(user=user, code=digest, ip_address=None)
    assert match_token(user, digest.strip()) is None
    form = OTPTokenForm(user, data={"otp_device": "", "otp_token": digest})
    assert form.fields["otp_token"].clean(digest) == digest.strip()
    assert mfa.backup_codes_remaining(user=user) == 10


def test_wrong_codes_are_capped_per_day_across_windows(user, settings):
    """Waiting out the 5-minute window does not reset the daily cap."""
    device, _ = enrol(user)
    settings.MICRO_MFA_FAILURES_PER_USER = 1000
    for _ in range(mfa.MFA_FAILURES_PER_DAY):
        with pytest.raises(mfa.MfaInvalid):
            mfa.mfa_verify(user=user, code="x", ip_address=None)
    with pytest.raises(mfa.MfaThrottled):
        mfa.mfa_verify(user=user, code=fresh_code(device), ip_address=None)


def _age_the_enrolment(user, seconds):
    TOTPDevice.objects.filter(user=user, confirmed=False).update(
        created_at=timezone.now() - timedelta(seconds=seconds)
    )


def test_an_enrolment_past_its_life_cannot_be_confirmed(user, user_client):
    user_client.post(TOTP_URL)
    device = TOTPDevice.objects.get(user=user)
    _age_the_enrolment(user, mfa.TOTP_ENROLMENT_SECONDS + 1)
    response = user_client.post(CONFIRM_URL, {"otp": code_at(device)}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "mfa_not_pending"
    assert not TOTPDevice.objects.filter(user=user).exists()
    assert not mfa.user_has_mfa(user=user)


def test_an_enrolment_within_its_life_still_confirms(user, user_client):
    user_client.post(TOTP_URL)
    device = TOTPDevice.objects.get(user=user)
    _age_the_enrolment(user, mfa.TOTP_ENROLMENT_SECONDS - 30)
    response = user_client.post(CONFIRM_URL, {"otp": code_at(device)}, format="json")
    assert response.status_code == 200
    assert mfa.user_has_mfa(user=user)


def test_wrong_codes_never_outlive_the_enrolment(user, user_client):
    """Tries do not come back for the same secret: past its life the enrolment is gone."""
    user_client.post(TOTP_URL)
    device = TOTPDevice.objects.get(user=user)
    wrong = f"{(int(code_at(device)) + 1) % 1_000_000:06d}"
    for _ in range(mfa.TOTP_ENROLMENT_TRIES - 1):
        user_client.post(CONFIRM_URL, {"otp": wrong}, format="json")
    _age_the_enrolment(user, mfa.TOTP_ENROLMENT_SECONDS + 1)
    response = user_client.post(CONFIRM_URL, {"otp": wrong}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "mfa_not_pending"
    assert not TOTPDevice.objects.filter(user=user).exists()


@pytest.mark.parametrize("created_at", ["expired", None])
def test_the_pending_enrolment_selector_deletes_an_expired_device(user, created_at):
    mfa.totp_begin(user=user, actor=None)
    if created_at is None:
        TOTPDevice.objects.filter(user=user).update(created_at=None)
    else:
        _age_the_enrolment(user, mfa.TOTP_ENROLMENT_SECONDS + 1)
    assert mfa.totp_pending_enrolment(user=user, actor=None) is None
    assert not TOTPDevice.objects.filter(user=user).exists()


def test_the_pending_enrolment_selector_shows_a_live_one(user):
    begun = mfa.totp_begin(user=user, actor=None)
    assert mfa.totp_pending_enrolment(user=user, actor=None) == begun


def test_the_pending_secret_needs_a_recent_sign_in(user):
    mfa.totp_begin(user=user, actor=None)
    stale = principal_for_user(
        user, method="session", amr=("pwd",), auth_time=int(time.time()) - 3600
    )
    with pytest.raises(RecentSignInRequired):
        mfa.totp_pending_enrolment(user=user, actor=stale)
