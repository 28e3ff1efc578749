"""MFA on the sign-in paths: the token endpoint and RPC `login`."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.db.models import F
from rest_framework.test import APIClient

from audit.models import AuditEvent
from authn.mfa import services as mfa
from authn.models import TokenFamily
from tests.authn.helpers import TOKEN_URL, refresh
from tests.authn.mfa_helpers import code_at, enrol, forget_used_codes, fresh_code

WRONG_PASSWORD = "not the password at all"


def post_token(body: dict[str, Any]) -> Any:
    return APIClient().post(TOKEN_URL, body, format="json")


def rpc_login(body: dict[str, Any]) -> Any:
    return APIClient().post("/user/login", body, format="json")


def claims_of(access_token: str) -> dict[str, Any]:
    return jwt.decode(access_token, options={"verify_signature": False})


def test_mfa_user_without_otp_gets_mfa_required(user, password):
    enrol(user)
    response = post_token({"username": user.username, "password": password})
    assert response.status_code == 401
    assert response.json()["code"] == "mfa_required"
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not TokenFamily.objects.exists()


def test_wrong_password_never_reveals_mfa(user, other_user, password):
    """The password is checked first: both accounts answer the same to a wrong password."""
    device, _ = enrol(user)
    with_mfa = post_token(
        {"username": user.username, "password": WRONG_PASSWORD, "otp": fresh_code(device)}
    )
    without = post_token({"username": other_user.username, "password": WRONG_PASSWORD})
    without_otp = post_token({"username": user.username, "password": WRONG_PASSWORD})
    assert with_mfa.status_code == without.status_code == without_otp.status_code == 401
    assert with_mfa.json() == without.json() == without_otp.json()
    assert with_mfa.json()["code"] == "invalid_credentials"
    # A wrong password does not burn the code either.
    device.refresh_from_db()
    assert device.last_t < int(time.time()) // 30 + 1


def test_wrong_otp_gets_mfa_invalid_and_is_audited(user, password):
    enrol(user)
    response = post_token({"username": user.username, "password": password, "otp": "12345x"})
    assert response.status_code == 401
    assert response.json()["code"] == "mfa_invalid"
    assert AuditEvent.objects.filter(type="mfa.failed", subject_id=str(user.pk)).count() == 1
    assert not AuditEvent.objects.filter(type="login.succeeded").exists()


def test_valid_otp_signs_in_with_amr_pwd_otp_and_auth_time(user, password):
    device, _ = enrol(user)
    before = int(time.time())
    response = post_token(
        {"username": user.username, "password": password, "otp": fresh_code(device)}
    )
    assert response.status_code == 200, response.content
    claims = claims_of(response.json()["access_token"])
    assert claims["amr"] == ["pwd", "otp"]
    assert before - 1 <= claims["auth_time"] <= int(time.time())


def test_user_without_mfa_gets_amr_pwd_and_an_ignored_otp(user, password):
    response = post_token({"username": user.username, "password": password, "otp": "123456"})
    assert response.status_code == 200
    assert claims_of(response.json()["access_token"])["amr"] == ["pwd"]


def test_refresh_keeps_the_original_amr_and_auth_time(user, password):
    device, _ = enrol(user)
    pair = post_token(
        {"username": user.username, "password": password, "otp": fresh_code(device)}
    ).json()
    first = claims_of(pair["access_token"])
    # The sign-in happened two minutes ago: a refresh now must still say so.
    TokenFamily.objects.update(created_at=F("created_at") - timedelta(minutes=2))
    refreshed = refresh(pair["refresh_token"])
    assert refreshed.status_code == 200, refreshed.content
    second = claims_of(refreshed.json()["access_token"])
    assert second["amr"] == ["pwd", "otp"]
    assert second["auth_time"] in (first["auth_time"] - 120, first["auth_time"] - 119)
    assert second["iat"] >= first["iat"]


def test_the_same_code_cannot_sign_in_twice(user, password):
    """A TOTP code signs in once at the token endpoint."""
    device, _ = enrol(user)
    code = fresh_code(device)
    body = {"username": user.username, "password": password, "otp": code}
    assert post_token(body).status_code == 200
    second = post_token(body)
    assert second.status_code == 401
    assert second.json()["code"] == "mfa_invalid"


def test_a_code_used_twice_says_wait_for_the_next_code(user, password):
    device, _ = enrol(user)
    body = {"username": user.username, "password": password, "otp": fresh_code(device)}
    assert post_token(body).status_code == 200
    second = post_token(body).json()
    assert second["code"] == "mfa_invalid"
    assert "wait for the next code" in second["detail"]
    forget_used_codes(device)
    wrong = {**body, "otp": f"{(int(body['otp']) + 1) % 1_000_000:06d}"}
    assert post_token(wrong).json()["detail"] == "The one-time code is invalid."


def test_a_code_from_90_seconds_ago_cannot_sign_in(user, password):
    """Only the previous, current and next 30-second steps sign in at the token endpoint."""
    device, _ = enrol(user)
    forget_used_codes(device)
    body = {"username": user.username, "password": password, "otp": code_at(device, -90)}
    assert post_token(body).json()["code"] == "mfa_invalid"


def test_a_backup_code_signs_in_once(user, password):
    _, codes = enrol(user)
    body = {"username": user.username, "password": password, "otp": codes[3]}
    response = post_token(body)
    assert response.status_code == 200
    assert claims_of(response.json()["access_token"])["amr"] == ["pwd", "otp"]
    assert post_token(body).json()["code"] == "mfa_invalid"


def test_a_refused_scope_does_not_consume_a_backup_code(user, password):
    _, codes = enrol(user)
    body = {"username": user.username, "password": password, "otp": codes[0], "scope": "api_admin"}
    assert post_token(body).status_code == 403
    assert mfa.backup_codes_remaining(user=user) == 10


def test_repeated_wrong_codes_at_the_token_endpoint_answer_429(user, password):
    """Repeated wrong codes are throttled at the token endpoint."""
    device, _ = enrol(user)
    body = {"username": user.username, "password": password, "otp": "999999x"}
    for _ in range(settings.MICRO_MFA_FAILURES_PER_USER):
        assert post_token(body).json()["code"] == "mfa_invalid"
    response = post_token({**body, "otp": fresh_code(device)})
    assert response.status_code == 429
    assert response.json()["code"] == "too_many_attempts"
    assert int(response["Retry-After"]) > 0


def test_rpc_login_is_not_an_mfa_bypass(user, password):
    enrol(user)
    response = rpc_login({"username": user.username, "password": password})
    assert response.status_code == 401
    assert response.json()["code"] == "mfa_required"
    wrong = rpc_login({"username": user.username, "password": password, "otp": "000000x"})
    assert wrong.status_code == 401
    assert wrong.json()["code"] == "mfa_invalid"


def test_rpc_login_with_a_valid_code_opens_a_session(user, password):
    device, _ = enrol(user)
    response = rpc_login({"email": user.email, "password": password, "otp": fresh_code(device)})
    assert response.status_code == 200, response.content
    assert response.json()["session"]["userId"] == str(user.pk)
    event = AuditEvent.objects.get(type="login.succeeded")
    assert event.data["amr"] == ["pwd", "otp"]


def test_rpc_login_wrong_password_never_reveals_mfa(user, other_user, password):
    enrol(user)
    with_mfa = rpc_login({"username": user.username, "password": WRONG_PASSWORD})
    without = rpc_login({"username": other_user.username, "password": WRONG_PASSWORD})
    assert with_mfa.status_code == without.status_code == 401
    assert with_mfa.json() == without.json()


@pytest.mark.parametrize("otp", [["123456"], {"a": 1}, "1" * 65])
def test_token_endpoint_rejects_a_malformed_otp(user, password, otp):
    response = post_token({"username": user.username, "password": password, "otp": otp})
    assert response.status_code == 400
