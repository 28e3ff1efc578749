"""An identity provider that is down, slow, or answers nonsense: a clear page or a 502/503
problem, never a 500 and never a sign-in; its keys rotating is picked up."""

from __future__ import annotations

import json
import socket
from typing import Any

import pytest
from django.test import Client

from audit.models import AuditEvent
from authn.federation import client as federation_client
from authn.models import IdentityProvider
from tests.authn.federation.conftest import begin, finish, sign_in
from tests.authn.federation.fake_provider import FakeProvider, rsa_key

pytestmark = pytest.mark.django_db

JSON = "application/json"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_provider_down_at_start_is_a_503_page(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(issuer=f"http://127.0.0.1:{_free_port()}")
    response = client.get("/accounts/federation/acme/start/")
    assert response.status_code == 503
    assert b"could not be reached" in response.content
    problem = client.get("/accounts/federation/acme/start/", headers={"Accept": JSON})
    _assert_problem(problem, 503, "idp_unavailable")
    assert AuditEvent.objects.filter(
        type="federation.refused", data__reason="upstream_error"
    ).exists()


def test_provider_down_at_callback_is_a_503(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream)
    upstream.close()
    _assert_problem(finish(client, state, accept=JSON), 503, "idp_unavailable")
    assert "_auth_user_id" not in client.session


def test_slow_provider_times_out_as_503(
    client: Client,
    upstream: FakeProvider,
    idp: IdentityProvider,
    settings: Any,
) -> None:
    settings.MICRO_FEDERATION_TIMEOUT = 1
    state = begin(client, upstream)
    upstream.delay = 2.5
    response = finish(client, state)
    assert response.status_code == 503
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(
    "answer",
    [
        (200, b"not json"),
        (200, b"[1, 2]"),
        (400, json.dumps({"error": "invalid_grant"}).encode()),
        (500, b"<html>oops</html>"),
    ],
    ids=["bad-json", "json-not-object", "token-error", "server-error"],
)
def test_token_endpoint_nonsense_is_a_502_or_503(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, answer: tuple[int, bytes]
) -> None:
    state = begin(client, upstream)
    upstream.token_answer = lambda: answer
    response = finish(client, state, accept=JSON)
    if answer[0] >= 500:
        _assert_problem(response, 503, "idp_unavailable")
    else:
        _assert_problem(response, 502, "idp_bad_response")
    assert "_auth_user_id" not in client.session


def test_token_endpoint_nonsense_is_a_502_page(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream)
    upstream.token_answer = lambda: (200, b"{nonsense")
    response = finish(client, state)
    assert response.status_code == 502
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize(
    "discovery",
    [
        {"issuer": "https://someone-else.example"},
        {"jwks_uri": None},
        {"id_token_signing_alg_values_supported": ["none", "HS256"]},
    ],
    ids=["issuer-mismatch", "no-jwks-uri", "no-usable-alg"],
)
def test_bad_discovery_is_a_502(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, discovery: dict[str, Any]
) -> None:
    upstream.discovery.update(discovery)
    response = client.get("/accounts/federation/acme/start/", headers={"Accept": JSON})
    _assert_problem(response, 502, "idp_bad_response")


@pytest.mark.parametrize(
    "endpoint", ["authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"]
)
def test_discovery_endpoint_over_plain_http_is_a_502(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, endpoint: str
) -> None:
    # The issuer rule holds for every endpoint the document names: a JWKS fetched in clear
    # text could be swapped for an attacker's keys, and the code and client secret would be
    # sent in clear text to the token endpoint.
    upstream.discovery[endpoint] = f"http://idp.example/{endpoint}"
    response = client.get("/accounts/federation/acme/start/", headers={"Accept": JSON})
    _assert_problem(response, 502, "idp_bad_response")
    assert AuditEvent.objects.filter(
        type="federation.refused", data__reason="upstream_error"
    ).exists()


def test_discovery_endpoint_over_plain_http_is_refused_at_the_callback(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, settings: Any
) -> None:
    settings.MICRO_FEDERATION_DISCOVERY_TTL = 0
    state = begin(client, upstream)
    upstream.discovery["token_endpoint"] = "http://idp.example/token"
    _assert_problem(finish(client, state, accept=JSON), 502, "idp_bad_response")
    assert upstream.token_requests == []
    assert "_auth_user_id" not in client.session


def test_a_redirect_to_plain_http_is_not_followed(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    # An https JWKS URL that redirects to http would have the keys fetched in clear text.
    upstream.redirects["/jwks"] = "http://idp.example/jwks"
    state = begin(client, upstream)
    _assert_problem(finish(client, state, accept=JSON), 502, "idp_bad_response")
    assert "_auth_user_id" not in client.session


def test_a_redirect_that_keeps_the_issuer_rule_is_followed(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    upstream.redirects["/jwks"] = "/jwks-moved"
    response = sign_in(client, upstream)
    assert response.status_code == 302
    assert "/jwks-moved" in upstream.requests
    assert "_auth_user_id" in client.session


def test_json_nested_past_the_parsers_depth_is_a_502(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    state = begin(client, upstream)
    upstream.token_answer = lambda: (200, b"[" * 100_000)
    _assert_problem(finish(client, state, accept=JSON), 502, "idp_bad_response")
    assert "_auth_user_id" not in client.session


def test_discovery_not_json_is_a_502_page(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, monkeypatch: Any
) -> None:
    monkeypatch.setattr(FakeProvider, "metadata", lambda self: ["not", "a", "document"])
    assert client.get("/accounts/federation/acme/start/").status_code == 502


def test_discovery_is_cached(client: Client, upstream: FakeProvider, idp: IdentityProvider) -> None:
    sign_in(client, upstream)
    client.post("/accounts/logout/")
    sign_in(client, upstream)
    assert upstream.requests.count("/.well-known/openid-configuration") == 1
    assert upstream.requests.count("/jwks") == 1


def test_discovery_is_refetched_after_its_ttl(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, settings: Any
) -> None:
    settings.MICRO_FEDERATION_DISCOVERY_TTL = 0
    sign_in(client, upstream)
    assert upstream.requests.count("/.well-known/openid-configuration") >= 2


def test_changed_row_rebuilds_the_client(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    sign_in(client, upstream)
    client.post("/accounts/logout/")
    idp.display_name = "Acme"
    idp.save()
    sign_in(client, upstream)
    assert upstream.requests.count("/.well-known/openid-configuration") == 2


def test_unknown_kid_refetches_the_jwks_and_picks_up_a_rotation(
    client: Client, upstream: FakeProvider, idp: IdentityProvider, monkeypatch: Any
) -> None:
    sign_in(client, upstream)
    client.post("/accounts/logout/")
    monkeypatch.setattr(federation_client, "JWKS_REFETCH_SECONDS", 0)
    upstream.keys = [rsa_key(0), rsa_key(1)]
    upstream.signing_key = rsa_key(1)
    response = sign_in(client, upstream)
    assert response.status_code == 302
    assert "_auth_user_id" in client.session
    assert upstream.requests.count("/jwks") == 2


def test_unknown_kid_refetches_at_most_once_per_interval(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    upstream.signing_key = rsa_key(1)  # not published: every token has an unknown kid
    for _ in range(3):
        assert sign_in(client, upstream).status_code == 400
    assert upstream.requests.count("/jwks") == 1
    assert (
        AuditEvent.objects.filter(
            type="federation.refused", data__reason="invalid_id_token"
        ).count()
        == 3
    )


def test_unreadable_client_secret_is_a_502(
    client: Client, upstream: FakeProvider, idp: IdentityProvider
) -> None:
    IdentityProvider.objects.filter(pk=idp.pk).update(client_secret_encrypted="garbage")
    response = client.get("/accounts/federation/acme/start/", headers={"Accept": JSON})
    _assert_problem(response, 502, "idp_bad_response")
