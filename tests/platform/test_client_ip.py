"""The client address behind a reverse proxy: X-Forwarded-For only from trusted proxies."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEvent
from micro_platform.http import client_ip_from_meta
from tests.factories import UserFactory


@pytest.mark.parametrize(
    ("trusted", "peer", "forwarded", "expected"),
    [
        ([], "203.0.113.9", "198.51.100.7", "203.0.113.9"),  # no proxy trusted: ignored
        (["127.0.0.1"], "127.0.0.1", "198.51.100.7", "198.51.100.7"),
        (["127.0.0.1"], "127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7"),  # right-most
        (["127.0.0.1", "10.0.0.0/8"], "127.0.0.1", "198.51.100.7, 10.1.2.3", "198.51.100.7"),
        (["127.0.0.1"], "203.0.113.9", "198.51.100.7", "203.0.113.9"),  # peer not a proxy
        (["127.0.0.1"], "127.0.0.1", "", "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1", "not-an-ip", "127.0.0.1"),
        (["::1"], "::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_client_address(
    settings: Any, trusted: list[str], peer: str, forwarded: str, expected: str
) -> None:
    settings.MICRO_TRUSTED_PROXIES = trusted
    meta = {"REMOTE_ADDR": peer, "HTTP_X_FORWARDED_FOR": forwarded}
    assert client_ip_from_meta(meta) == expected


def test_a_failed_sign_in_behind_the_proxy_records_the_real_client(settings: Any, db: Any) -> None:
    settings.MICRO_TRUSTED_PROXIES = ["127.0.0.1"]
    user = UserFactory.create()

    APIClient().post(
        "/api/v1/auth/token",
        {"username": user.username, "password": "wrong password"},
        format="json",
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.7",
    )

    event = AuditEvent.objects.get(type="login.failed")
    assert event.ip_address == "198.51.100.7"
