"""`GET /metrics`: the counters move, the text parses, only scrapers get it."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, override_settings
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from accounts.models import User
from micro_platform import metrics
from tests.authn.api_keys.helpers import EXCHANGE, key_client, mint
from tests.authn.helpers import password_login, refresh
from tests.authn.oauth_helpers import create_account
from tests.authn.oauth_helpers import token as client_credentials_token
from tests.platform.helpers import DEAD_REDIS

TOKEN_URL = "/api/v1/auth/token"
VERIFY_URL = "/api/v1/auth/verify"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def scrape(**extra: Any) -> Any:
    return Client().get("/metrics", **extra)


def families(text: str) -> dict[str, Any]:
    return {family.name: family for family in text_string_to_metric_families(text)}


def test_a_sign_in_and_its_token_are_counted(
    user: User, password: str, django_capture_on_commit_callbacks: Any
) -> None:
    before_ok = value("micro_sign_ins_total", result="succeeded")
    before_issued = value("micro_tokens_issued_total", path="api", grant="password")
    with django_capture_on_commit_callbacks(execute=True):  # counted once committed
        password_login(user, password)
    assert value("micro_sign_ins_total", result="succeeded") == before_ok + 1
    assert value("micro_tokens_issued_total", path="api", grant="password") == before_issued + 1


def test_a_failed_sign_in_is_counted_and_issues_nothing(user: User) -> None:
    before_failed = value("micro_sign_ins_total", result="failed")
    before_issued = value("micro_tokens_issued_total", path="api", grant="password")
    response = APIClient().post(
        TOKEN_URL, {"username": user.username, "password": "wrong-password"}, format="json"
    )
    assert response.status_code == 401
    assert value("micro_sign_ins_total", result="failed") == before_failed + 1
    assert value("micro_tokens_issued_total", path="api", grant="password") == before_issued


def test_a_lockout_and_the_refusals_after_it_are_counted(user: User, settings: Any) -> None:
    settings.MICRO_LOCKOUT_THRESHOLD = 2
    before_lockouts = value("micro_lockouts_total")
    before_locked = value("micro_sign_ins_total", result="locked")
    body = {"username": user.username, "password": "wrong-password"}
    statuses = [APIClient().post(TOKEN_URL, body, format="json").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert value("micro_lockouts_total") == before_lockouts + 1
    assert value("micro_sign_ins_total", result="locked") == before_locked + 1


def test_refresh_and_exchange_are_counted_by_grant(user: User, password: str) -> None:
    pair = password_login(user, password)
    before_refresh = value("micro_tokens_issued_total", path="api", grant="refresh")
    assert refresh(pair["refresh_token"]).status_code == 200
    assert value("micro_tokens_issued_total", path="api", grant="refresh") == before_refresh + 1

    before_exchange = value("micro_tokens_issued_total", path="api", grant="exchange")
    assert key_client(mint(user).key).post(EXCHANGE).status_code == 200
    assert value("micro_tokens_issued_total", path="api", grant="exchange") == before_exchange + 1


def test_oauth_tokens_are_counted_by_grant_type(db: Any) -> None:
    account = create_account("metrics-svc", "--scope", "users:read", "--oauth-client")
    labels = {"path": "oauth", "grant": "client_credentials"}
    before = value("micro_tokens_issued_total", **labels)
    response = client_credentials_token(account["client_id"], account["client_secret"])
    assert response.status_code == 200, response.content
    assert value("micro_tokens_issued_total", **labels) == before + 1
    refused = client_credentials_token(account["client_id"], "wrong-secret")
    assert refused.status_code == 401
    assert value("micro_tokens_issued_total", **labels) == before + 1


def test_gateway_verifies_are_counted_by_result(user_client: APIClient) -> None:
    results = ("allowed", "unauthenticated", "forbidden", "bad_request")
    before = {result: value("micro_gateway_verifies_total", result=result) for result in results}
    assert user_client.get(VERIFY_URL).status_code == 200
    assert APIClient().get(VERIFY_URL).status_code == 401
    assert user_client.get(VERIFY_URL, {"scope": "api_admin"}).status_code == 403
    # A scope nobody can hold is refused (403) like one the caller lacks.
    assert user_client.get(VERIFY_URL, {"scope": "no-such-scope"}).status_code == 403
    wanted = {"allowed": 1, "unauthenticated": 1, "forbidden": 2, "bad_request": 0}
    for result in results:
        assert (
            value("micro_gateway_verifies_total", result=result) == before[result] + wanted[result]
        )


def test_a_verify_refused_for_a_dead_cache_is_counted_and_metrics_still_answer(
    user_client: APIClient,
) -> None:
    before = value("micro_gateway_verifies_total", result="unavailable")
    with override_settings(CACHES=DEAD_REDIS):
        assert user_client.get(VERIFY_URL).status_code == 503
        # The scrape needs neither the cache nor the database: an outage stays visible.
        assert scrape().status_code == 200
    assert value("micro_gateway_verifies_total", result="unavailable") == before + 1


def test_the_exposition_parses_and_holds_every_metric(
    user: User, password: str, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        password_login(user, password)
    response = scrape()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "no-cache" in response["Cache-Control"]
    parsed = families(response.content.decode())
    assert parsed["micro_sign_ins"].type == "counter"
    assert parsed["micro_tokens_issued"].type == "counter"
    assert parsed["micro_gateway_verifies"].type == "counter"
    assert parsed["micro_lockouts"].type == "counter"
    assert parsed["micro_request_duration_seconds"].type == "histogram"
    signed_in = [
        sample
        for sample in parsed["micro_sign_ins"].samples
        if sample.name == "micro_sign_ins_total" and sample.labels == {"result": "succeeded"}
    ]
    assert signed_in and signed_in[0].value >= 1
    # The scrape itself was timed: at least one GET observed (the earlier POST too).
    counts = {
        sample.labels["method"]: sample.value
        for sample in parsed["micro_request_duration_seconds"].samples
        if sample.name == "micro_request_duration_seconds_count"
    }
    assert counts.get("POST", 0) >= 1


def test_no_secret_reaches_the_exposition(user: User, password: str) -> None:
    pair = password_login(user, password)
    text = scrape().content.decode()
    for secret in (password, pair["access_token"], pair["refresh_token"], user.username):
        assert secret not in text


@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.9", "192.168.1.5"])
def test_private_direct_peers_are_served(db: Any, peer: str) -> None:
    assert scrape(REMOTE_ADDR=peer).status_code == 200


@pytest.mark.parametrize("peer", ["8.8.8.8", "2001:4860:4860::8888", "", "not-an-ip"])
def test_public_peers_get_a_404(db: Any, peer: str) -> None:
    response = scrape(REMOTE_ADDR=peer)
    assert response.status_code == 404
    assert b"micro_" not in response.content


@pytest.mark.parametrize("header", ["HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP"])
def test_a_request_through_a_proxy_is_refused_even_from_loopback(db: Any, header: str) -> None:
    # Behind nginx every peer is 127.0.0.1; the forwarding header gives the proxy away.
    assert scrape(REMOTE_ADDR="127.0.0.1", **{header: "203.0.113.7"}).status_code == 404


def test_with_a_token_configured_only_the_bearer_gets_in(db: Any, settings: Any) -> None:
    settings.MICRO_METRICS_TOKEN = "scrape-secret-0123456789"
    assert scrape().status_code == 404  # loopback alone is no longer enough
    assert scrape(HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert scrape(HTTP_AUTHORIZATION="Basic scrape-secret-0123456789").status_code == 404
    allowed = scrape(
        HTTP_AUTHORIZATION="Bearer scrape-secret-0123456789",
        REMOTE_ADDR="198.51.100.4",
        HTTP_X_FORWARDED_FOR="198.51.100.4",
    )
    assert allowed.status_code == 200
    assert b"micro_sign_ins_total" in allowed.content


def test_only_safe_methods_are_answered(db: Any) -> None:
    assert Client().post("/metrics").status_code == 405
    assert Client().head("/metrics").status_code == 200


def test_the_device_grant_urn_becomes_a_short_label() -> None:
    labels = {"path": "oauth", "grant": "device_code"}
    before = value("micro_tokens_issued_total", **labels)
    metrics.token_issued(path="oauth", grant="urn:ietf:params:oauth:grant-type:device_code")
    assert value("micro_tokens_issued_total", **labels) == before + 1
