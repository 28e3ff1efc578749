"""Every answer read from an identity provider is bounded: larger than
MICRO_FEDERATION_MAX_RESPONSE_BYTES (by its Content-Length, while it streams, or once
decompressed) is a 502 and no sign-in; one that trickles in past MICRO_FEDERATION_TIMEOUT is a
503."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from authn.models import IdentityProvider
from tests.authn.federation.conftest import begin, finish
from tests.authn.federation.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db

JSON = "application/json"
DISCOVERY = "/.well-known/openid-configuration"
ANSWERS = [DISCOVERY, "/jwks", "/token", "/userinfo"]


@pytest.fixture
def every_call(idp: IdentityProvider, settings: Any) -> IdentityProvider:
    """The provider row with every answer read at the callback: the discovery document is
    fetched again (no cache) and userinfo is read."""
    settings.MICRO_FEDERATION_DISCOVERY_TTL = 0
    idp.use_userinfo = True
    idp.save()
    return idp


def _callback_with(
    client: Client, upstream: FakeProvider, path: str, size: int, framing: str, accept: str
) -> Any:
    state = begin(client, upstream)
    upstream.answer_size[path] = size
    if framing:
        upstream.framing[path] = framing
    return finish(client, state, accept=accept)


def test_the_default_cap_is_one_mebibyte(settings: Any) -> None:
    assert settings.MICRO_FEDERATION_MAX_RESPONSE_BYTES == 1024 * 1024


@pytest.mark.parametrize("path", ANSWERS)
@pytest.mark.parametrize(
    "framing",
    ["", "chunked", "gzip", "lying-length"],
    ids=["content-length", "chunked", "gzip", "lying-length"],
)
def test_answer_over_the_cap_is_a_502_problem_and_no_sign_in(
    client: Client,
    upstream: FakeProvider,
    every_call: IdentityProvider,
    settings: Any,
    path: str,
    framing: str,
) -> None:
    # Chunked: no Content-Length to refuse up front, so the cap holds while it streams. Gzip:
    # a Content-Length of a few kilobytes that inflates past the cap. Lying: a Content-Length
    # under the cap before a body over it (only the declared bytes are read).
    size = settings.MICRO_FEDERATION_MAX_RESPONSE_BYTES + 1
    response = _callback_with(client, upstream, path, size, framing, JSON)
    assert response.status_code == 502
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "idp_bad_response"
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(
        type="federation.refused", data__reason="upstream_error"
    ).exists()
    assert not AuditEvent.objects.filter(type="login.succeeded").exists()


@pytest.mark.parametrize("path", ANSWERS)
def test_answer_over_the_cap_is_a_502_page(
    client: Client, upstream: FakeProvider, every_call: IdentityProvider, settings: Any, path: str
) -> None:
    size = settings.MICRO_FEDERATION_MAX_RESPONSE_BYTES + 1
    response = _callback_with(client, upstream, path, size, "chunked", "text/html")
    assert response.status_code == 502
    assert response["Content-Type"].startswith("text/html")
    assert "_auth_user_id" not in client.session


def test_discovery_over_the_cap_at_start_is_a_502(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, settings: Any
) -> None:
    upstream.answer_size[DISCOVERY] = settings.MICRO_FEDERATION_MAX_RESPONSE_BYTES + 1
    response = client.get("/accounts/federation/acme/start/", headers={"Accept": JSON})
    assert response.status_code == 502
    assert response.json()["code"] == "idp_bad_response"


@pytest.mark.parametrize("framing", ["", "chunked", "gzip"], ids=["length", "chunked", "gzip"])
def test_answers_of_exactly_the_cap_still_sign_in(
    client: Client,
    upstream: FakeProvider,
    every_call: IdentityProvider,
    settings: Any,
    framing: str,
) -> None:
    state = begin(client, upstream)
    for path in ANSWERS:
        upstream.answer_size[path] = settings.MICRO_FEDERATION_MAX_RESPONSE_BYTES
        if framing:
            upstream.framing[path] = framing
    response = finish(client, state)
    assert response.status_code == 302, response.content
    assert "_auth_user_id" in client.session
    assert {DISCOVERY, "/jwks", "/userinfo"} <= set(upstream.requests)


def test_a_lower_cap_setting_applies(
    client: Client, upstream: FakeProvider, every_call: IdentityProvider, settings: Any
) -> None:
    settings.MICRO_FEDERATION_MAX_RESPONSE_BYTES = 4096
    response = _callback_with(client, upstream, "/jwks", 4097, "", JSON)
    assert response.status_code == 502
    assert "_auth_user_id" not in client.session


def test_answer_trickling_in_past_the_timeout_is_cut_as_a_503(
    client: Client, upstream: FakeProvider, every_call: IdentityProvider, settings: Any
) -> None:
    # 256 bytes every 0.2 s: each read is well within the 1 s read timeout, but the whole
    # token answer would take over 3 s.
    settings.MICRO_FEDERATION_TIMEOUT = 1
    started = time.monotonic()
    response = _callback_with(client, upstream, "/token", 4096, "trickle", JSON)
    assert response.status_code == 503
    assert response.json()["code"] == "idp_unavailable"
    assert time.monotonic() - started < 2.5
    assert "_auth_user_id" not in client.session


def test_answer_trickling_in_within_the_timeout_still_signs_in(
    client: Client, upstream: FakeProvider, every_call: IdentityProvider, settings: Any
) -> None:
    settings.MICRO_FEDERATION_TIMEOUT = 2
    response = _callback_with(client, upstream, "/userinfo", 600, "trickle", "text/html")
    assert response.status_code == 302, response.content
    assert "_auth_user_id" in client.session
