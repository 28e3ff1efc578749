"""The online check against a loopback RFC 7662 endpoint: what it sends, what it caches (and
under which key), and how it fails."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest

from micro_client import InsecureUrl
from micro_client.introspection import IntrospectionUnavailable, Introspector

CLIENT_ID, CLIENT_SECRET = "billing", "s3cret:with/odd chars"


class Endpoint:
    """Answers active for the tokens in `active`; records each request's form and headers."""

    def __init__(self) -> None:
        self.active: set[str] = set()
        self.requests: list[tuple[dict[str, list[str]], str]] = []
        self.status = 200
        self.delay = 0.0  # seconds each answer takes
        self.url = ""

    def answer(self, form: dict[str, list[str]]) -> dict[str, Any]:
        token = form.get("token", [""])[0]
        return {"active": True, "sub": "u1"} if token in self.active else {"active": False}


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    served = Endpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            served.requests.append((form, self.headers.get("Authorization", "")))
            time.sleep(served.delay)
            body = json.dumps(served.answer(form)).encode()
            self.send_response(served.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    served.url = f"http://127.0.0.1:{server.server_address[1]}/o/introspect/"
    yield served
    server.shutdown()
    server.server_close()
    thread.join(5)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def introspector(endpoint: Endpoint, clock: Clock, **options: Any) -> Introspector:
    return Introspector(
        endpoint.url, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, clock=clock, **options
    )


def test_an_active_token_is_active_and_a_revoked_one_is_not(endpoint: Endpoint) -> None:
    endpoint.active.add("good")
    checker = introspector(endpoint, Clock())

    assert checker.is_active("good") and checker.introspect("good")["sub"] == "u1"
    assert not checker.is_active("revoked")


def test_the_client_authenticates_with_http_basic_form_encoded(endpoint: Endpoint) -> None:
    introspector(endpoint, Clock()).introspect("t")

    form, authorization = endpoint.requests[0]
    decoded = base64.b64decode(authorization.removeprefix("Basic ")).decode()
    assert decoded == "billing:s3cret%3Awith%2Fodd%20chars"
    assert form == {"token": ["t"]}


def test_the_upstream_flag_sends_the_upstream_hint(endpoint: Endpoint) -> None:
    introspector(endpoint, Clock()).is_active("t", upstream=True)

    assert endpoint.requests[0][0]["token_type_hint"] == ["upstream_token"]


def test_an_answer_is_cached_for_cache_seconds_then_asked_again(endpoint: Endpoint) -> None:
    endpoint.active.add("good")
    clock = Clock()
    checker = introspector(endpoint, clock, cache_seconds=5)
    checker.is_active("good")
    endpoint.active.clear()  # revoked

    assert checker.is_active("good")  # within 5 s: the cached answer
    clock.now += 5
    assert not checker.is_active("good")
    assert checker.calls == 2


def test_an_active_answer_is_not_cached_past_the_tokens_expiry(endpoint: Endpoint) -> None:
    expires = int(time.time()) + 3  # 2 to 3 s from now
    endpoint.answer = lambda form: {"active": True, "exp": expires}  # type: ignore[method-assign]
    clock = Clock()
    checker = introspector(endpoint, clock, cache_seconds=60)
    checker.is_active("good")

    clock.now += 1
    checker.is_active("good")  # still within the token's lifetime: the cached answer
    clock.now += 3
    checker.is_active("good")  # past its exp: asked again, not answered from the cache

    assert checker.calls == 2


def test_the_cache_is_keyed_by_a_digest_never_the_token(endpoint: Endpoint) -> None:
    checker = introspector(endpoint, Clock())
    checker.is_active("secret-token")

    assert all("secret-token" not in key for key in checker._cache)


def test_the_cache_is_bounded(endpoint: Endpoint) -> None:
    checker = introspector(endpoint, Clock(), max_entries=3)
    for number in range(10):
        checker.is_active(f"t{number}")

    assert len(checker._cache) == 3


def test_a_refused_client_is_unavailable_not_inactive(endpoint: Endpoint) -> None:
    endpoint.status = 403

    with pytest.raises(IntrospectionUnavailable):
        introspector(endpoint, Clock()).is_active("t")


def test_threads_asking_about_one_token_at_once_cost_one_call(endpoint: Endpoint) -> None:
    endpoint.active.add("good")
    endpoint.delay = 0.3
    checker = introspector(endpoint, Clock())
    start = threading.Barrier(8)
    verdicts: list[bool] = []

    def ask() -> None:
        start.wait()
        verdicts.append(checker.is_active("good"))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert verdicts == [True] * 8
    assert len(endpoint.requests) == 1 and checker.calls == 1


def test_a_failed_call_is_never_cached(endpoint: Endpoint) -> None:
    endpoint.active.add("good")
    endpoint.status = 503
    checker = introspector(endpoint, Clock())

    with pytest.raises(IntrospectionUnavailable):
        checker.is_active("good")
    endpoint.status = 200

    assert checker.is_active("good")
    assert checker.calls == 2


def test_an_answer_that_is_not_rfc_7662_is_unavailable_not_active(endpoint: Endpoint) -> None:
    endpoint.answer = lambda form: {"active": "true"}  # type: ignore[method-assign]
    checker = introspector(endpoint, Clock())

    with pytest.raises(IntrospectionUnavailable):
        checker.is_active("good")
    assert len(checker._cache) == 0


def test_without_a_cache_every_check_asks(endpoint: Endpoint) -> None:
    endpoint.active.add("good")
    checker = introspector(endpoint, Clock(), cache_seconds=0)

    assert checker.is_active("good") and checker.is_active("good")
    assert checker.calls == 2


def test_plain_http_to_another_host_is_refused_at_construction() -> None:
    with pytest.raises(InsecureUrl, match="introspection URL"):
        Introspector("http://id.example.com/o/introspect/", client_id="c", client_secret="s")
