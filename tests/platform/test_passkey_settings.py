"""Passkeys' relying party comes from MICRO_ISSUER: its host is the RP ID (or a parent domain
set in MICRO_WEBAUTHN_RP_ID), its origin the allowed origin; an issuer no browser offers
WebAuthn to (an IP address, plain http off localhost) turns passkeys off and says so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.platform.helpers import ROOT, production_env

SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s;"
    " print(json.dumps([s.MICRO_PASSKEYS_ENABLED, s.OTP_WEBAUTHN_RP_ID,"
    " s.OTP_WEBAUTHN_ALLOWED_ORIGINS]))"
)


def passkey_settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - this interpreter
        [sys.executable, "-c", SHOW],
        env=production_env(tmp_path, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"MICRO_ISSUER": "https://id.example.com"},
            [True, "id.example.com", ["https://id.example.com"]],
        ),
        (
            {
                "MICRO_ISSUER": "https://id.example.com:8443/",
                "MICRO_WEBAUTHN_RP_ID": "Example.com",
                "MICRO_WEBAUTHN_EXTRA_ORIGINS": "https://app.example.com",
            },
            [True, "example.com", ["https://id.example.com:8443", "https://app.example.com"]],
        ),
        ({"MICRO_ISSUER": "http://localhost:8000"}, [True, "localhost", ["http://localhost:8000"]]),
        ({"MICRO_ISSUER": "http://127.0.0.1:8000"}, [False, "127.0.0.1", []]),
        ({"MICRO_ISSUER": "https://[::1]:8443"}, [False, "::1", []]),
        ({"MICRO_ISSUER": "http://id.example.com"}, [False, "id.example.com", []]),
    ],
)
def test_the_relying_party_follows_the_issuer(
    tmp_path: Path, env: dict[str, str], expected: list[object]
) -> None:
    result = passkey_settings(tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


@pytest.mark.parametrize("rp_id", ["other.com", "ample.com", "id.example.com.evil"])
def test_an_rp_id_that_is_not_the_issuer_or_its_parent_domain_is_refused(
    tmp_path: Path, rp_id: str
) -> None:
    result = passkey_settings(
        tmp_path, MICRO_ISSUER="https://id.example.com", MICRO_WEBAUTHN_RP_ID=rp_id
    )
    assert result.returncode != 0
    assert "MICRO_WEBAUTHN_RP_ID" in result.stderr and "parent domain" in result.stderr


def test_an_ip_issuer_warns_that_passkeys_are_off(tmp_path: Path) -> None:
    env = production_env(tmp_path, MICRO_ISSUER="http://10.0.0.5:8000")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "(micro.W010) Passkeys are off" in result.stderr + result.stdout
    # The library's own error for an empty origin list is the same fact: silenced.
    assert "otp_webauthn.E030" not in result.stderr + result.stdout


def test_an_extra_origin_off_the_rp_id_is_refused(tmp_path: Path) -> None:
    result = passkey_settings(
        tmp_path,
        MICRO_ISSUER="https://id.example.com",
        MICRO_WEBAUTHN_RP_ID="example.com",
        MICRO_WEBAUTHN_EXTRA_ORIGINS="https://app.example.com,https://example.org",
    )
    assert result.returncode != 0
    assert "MICRO_WEBAUTHN_EXTRA_ORIGINS" in result.stderr and "example.org" in result.stderr
