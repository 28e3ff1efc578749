"""The API client against a fake service (httpx.MockTransport): credential sources, errors,
the ETag cache, pagination, the resources' paths and bodies, and the RPC facade."""

from __future__ import annotations

import ast
import base64
import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from micro_client import api as api_module
from micro_client.api import (
    ApiError,
    ApiKey,
    ClientCredentials,
    MicroClient,
    Password,
    StaticToken,
)
from micro_client.verifier import InsecureUrl

BASE = "https://id.example.com"
USER_ID = "5f0c6a52-4d7e-4d53-9c4e-7a3c1f0b8e11"
PROBLEM = "application/problem+json"

Handler = Callable[[httpx.Request], httpx.Response]


class FakeService:
    """Routes `METHOD path` to handlers and records every request it saw."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.seen: list[httpx.Request] = []
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append(request)
        handler = self.routes.get(f"{request.method} {request.url.path}")
        if handler is None:
            return problem(404, "not_found", "No such route.")
        return handler(request)

    def on(self, route: str, handler: Handler) -> None:
        self.routes[route] = handler

    def answer(self, route: str, status: int = 200, body: Any = None) -> None:
        self.on(route, lambda request: httpx.Response(status, json=body))

    def requests_to(self, path: str) -> list[httpx.Request]:
        return [request for request in self.seen if request.url.path == path]

    def client(self, credentials: Any = None) -> MicroClient:
        return MicroClient(
            BASE,
            credentials=credentials or StaticToken("t0"),
            transport=httpx.MockTransport(self),
        )


def problem(status: int, code: str, detail: str, **extra: Any) -> httpx.Response:
    body = {"type": "about:blank", "title": "Refused", "status": status, "code": code}
    return httpx.Response(
        status, json={**body, "detail": detail, **extra}, headers={"Content-Type": PROBLEM}
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def service() -> FakeService:
    return FakeService()


def issue_tokens(service: FakeService, route: str, lifetime: int = 300) -> None:
    """Each call of `route` answers a new token `tok1`, `tok2`, ..."""
    counter = iter(range(1, 1000))

    def handler(request: httpx.Request) -> httpx.Response:
        token = f"tok{next(counter)}"
        return httpx.Response(200, json={"access_token": token, "expires_in": lifetime})

    service.on(route, handler)


def me_answers_ok(service: FakeService) -> None:
    service.answer("GET /api/v1/me", body={"user": {"id": USER_ID}})


# --- credential sources ---


def test_an_api_key_is_exchanged_once_and_its_token_reused(service: FakeService) -> None:
    issue_tokens(service, "POST /api/v1/auth/token/exchange")
    me_answers_ok(service)
    client = service.client(ApiKey("mk_secret"))

    client.me()
    client.me()

    (exchange,) = service.requests_to("/api/v1/auth/token/exchange")
    assert exchange.headers["X-API-Key"] == "mk_secret"
    assert "Authorization" not in exchange.headers
    assert [r.headers["Authorization"] for r in service.requests_to("/api/v1/me")] == [
        "Bearer tok1",
        "Bearer tok1",
    ]


def test_an_api_key_token_is_renewed_before_it_expires(service: FakeService) -> None:
    issue_tokens(service, "POST /api/v1/auth/token/exchange", lifetime=300)
    me_answers_ok(service)
    clock = FakeClock()
    client = service.client(ApiKey("mk_secret", clock=clock))

    client.me()
    clock.now += 269  # 31 s left: still used
    client.me()
    clock.now += 1  # 30 s left: renewed before it can expire on the way
    client.me()

    assert len(service.requests_to("/api/v1/auth/token/exchange")) == 2
    sent = [r.headers["Authorization"] for r in service.requests_to("/api/v1/me")]
    assert sent == ["Bearer tok1", "Bearer tok1", "Bearer tok2"]


def test_a_token_lifetime_counts_from_when_it_was_asked_for(service: FakeService) -> None:
    clock = FakeClock()
    tokens = iter(["tok1", "tok2"])

    def slow_exchange(request: httpx.Request) -> httpx.Response:
        clock.now += 20  # the answer takes 20 s: the token is 20 s old when it arrives
        return httpx.Response(200, json={"access_token": next(tokens), "expires_in": 300})

    service.on("POST /api/v1/auth/token/exchange", slow_exchange)
    me_answers_ok(service)
    client = service.client(ApiKey("mk_secret", clock=clock))

    client.me()
    clock.now += 255  # asked 275 s ago: 25 s left, inside the 30 s margin
    client.me()

    sent = [r.headers["Authorization"] for r in service.requests_to("/api/v1/me")]
    assert sent == ["Bearer tok1", "Bearer tok2"]


def test_the_client_hands_out_its_current_token(service: FakeService) -> None:
    issue_tokens(service, "POST /api/v1/auth/token/exchange")
    client = service.client(ApiKey("mk_secret"))

    assert client.token() == client.token() == "tok1"
    assert service.client(StaticToken("abc")).token() == "abc"


def test_an_api_key_for_a_service_asks_for_its_resource(service: FakeService) -> None:
    issue_tokens(service, "POST /api/v1/auth/token/exchange")
    me_answers_ok(service)

    service.client(ApiKey("mk_secret", resource="billing")).me()

    (exchange,) = service.requests_to("/api/v1/auth/token/exchange")
    assert json.loads(exchange.content) == {"resource": "billing"}


def test_threads_sharing_a_client_exchange_the_key_once(service: FakeService) -> None:
    started = threading.Event()

    def slow_exchange(request: httpx.Request) -> httpx.Response:
        started.wait(1)
        time.sleep(0.05)
        return httpx.Response(200, json={"access_token": "tok", "expires_in": 300})

    service.on("POST /api/v1/auth/token/exchange", slow_exchange)
    me_answers_ok(service)
    client = service.client(ApiKey("mk_secret"))
    threads = [threading.Thread(target=client.me) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.set()
    for thread in threads:
        thread.join(5)

    assert len(service.requests_to("/api/v1/auth/token/exchange")) == 1
    assert len(service.requests_to("/api/v1/me")) == 8


def test_a_rejected_token_is_renewed_and_the_request_sent_once_more(
    service: FakeService,
) -> None:
    issue_tokens(service, "POST /api/v1/auth/token/exchange")
    answers = iter([problem(401, "token_revoked", "Revoked."), httpx.Response(200, json={})])
    service.on("GET /api/v1/me", lambda request: next(answers))

    service.client(ApiKey("mk_secret")).me()

    sent = [r.headers["Authorization"] for r in service.requests_to("/api/v1/me")]
    assert sent == ["Bearer tok1", "Bearer tok2"]


def test_a_static_token_is_sent_as_is_and_a_401_is_not_retried(service: FakeService) -> None:
    service.on("GET /api/v1/me", lambda request: problem(401, "token_expired", "Expired."))

    with pytest.raises(ApiError) as caught:
        service.client(StaticToken("abc")).me()

    assert caught.value.status == 401
    assert caught.value.code == "token_expired"
    assert [r.headers["Authorization"] for r in service.seen] == ["Bearer abc"]


def test_client_credentials_use_the_grant_with_basic_auth(service: FakeService) -> None:
    issue_tokens(service, "POST /o/token/")
    me_answers_ok(service)

    service.client(ClientCredentials("svc id", "s3cr:t", scope="users:read")).me()

    (token,) = service.requests_to("/o/token/")
    scheme, _, encoded = token.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    # RFC 6749 section 2.3.1: each is form-encoded, then joined with ":".
    assert base64.b64decode(encoded).decode() == "svc+id:s3cr%3At"
    form = dict(httpx.QueryParams(token.content.decode()))
    assert form == {"grant_type": "client_credentials", "scope": "users:read"}


def test_a_password_login_refreshes_then_signs_in_again_when_refused(
    service: FakeService,
) -> None:
    pairs = iter(range(1, 10))

    def pair(request: httpx.Request) -> httpx.Response:
        n = next(pairs)
        return httpx.Response(
            200, json={"access_token": f"a{n}", "refresh_token": f"r{n}", "expires_in": 300}
        )

    refreshes = iter([pair, lambda request: problem(401, "token_revoked", "Revoked.")])
    service.on("POST /api/v1/auth/token", pair)
    service.on("POST /api/v1/auth/token/refresh", lambda request: next(refreshes)(request))
    me_answers_ok(service)
    clock = FakeClock()
    client = service.client(Password("ada", "pw", otp="123456", clock=clock))

    for _ in range(3):
        client.me()
        clock.now += 300

    sign_ins = [json.loads(r.content) for r in service.requests_to("/api/v1/auth/token")]
    # The one-time code went with the first sign-in only: a second use would be a replay.
    assert sign_ins == [
        {"username": "ada", "password": "pw", "otp": "123456"},
        {"username": "ada", "password": "pw"},
    ]
    refreshed = [json.loads(r.content) for r in service.requests_to("/api/v1/auth/token/refresh")]
    assert refreshed == [{"refresh_token": "r1"}, {"refresh_token": "r2"}]
    sent = [r.headers["Authorization"] for r in service.requests_to("/api/v1/me")]
    assert sent == ["Bearer a1", "Bearer a2", "Bearer a3"]


def test_a_refused_exchange_is_an_api_error(service: FakeService) -> None:
    service.on(
        "POST /api/v1/auth/token/exchange",
        lambda request: problem(401, "not_authenticated", "No valid API key."),
    )

    with pytest.raises(ApiError) as caught:
        service.client(ApiKey("mk_bad")).me()

    assert (caught.value.status, caught.value.code) == (401, "not_authenticated")
    assert service.requests_to("/api/v1/me") == []


def test_credentials_never_show_their_secret() -> None:
    for credentials in (
        StaticToken("tok-secret"),
        ApiKey("mk_secret"),
        ClientCredentials("id", "secret"),
        Password("ada", "secret"),
    ):
        assert "secret" not in repr(credentials)


# --- errors ---


def test_a_problem_becomes_an_api_error_with_its_members(service: FakeService) -> None:
    service.on(
        "POST /api/v1/users",
        lambda request: problem(400, "invalid", "Invalid input.", errors={"username": ["Taken."]}),
    )

    with pytest.raises(ApiError) as caught:
        service.client().users.create("ada")

    error = caught.value
    assert (error.status, error.code, error.title) == (400, "invalid", "Refused")
    assert error.detail == "Invalid input."
    assert error.errors == {"username": ["Taken."]}
    assert "invalid" in str(error)


def test_an_oauth_error_becomes_an_api_error(service: FakeService) -> None:
    service.answer(
        "POST /o/token/", 401, {"error": "invalid_client", "error_description": "Bad secret."}
    )

    with pytest.raises(ApiError) as caught:
        service.client(ClientCredentials("id", "wrong")).me()

    assert (caught.value.status, caught.value.code) == (401, "invalid_client")
    assert caught.value.detail == "Bad secret."


def test_an_answer_that_is_not_json_is_an_unexpected_response(service: FakeService) -> None:
    service.on("GET /api/v1/me", lambda request: httpx.Response(502, text="<html>bad</html>"))

    with pytest.raises(ApiError) as caught:
        service.client().me()

    assert (caught.value.status, caught.value.code) == (502, "unexpected_response")


# --- users, the ETag cache, pagination ---


def etag_answers(service: FakeService, route: str, body: Any, etag: str = '"v1"') -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("If-None-Match") == etag:
            return httpx.Response(304, headers={"ETag": etag})
        return httpx.Response(200, json=body, headers={"ETag": etag})

    service.on(route, handler)


def test_batch_read_revalidates_with_the_etag_and_reuses_the_body_on_304(
    service: FakeService,
) -> None:
    users = [{"id": USER_ID, "username": "ada"}]
    etag_answers(service, "GET /api/v1/users", {"results": users})
    client = service.client()

    first = client.users.batch_read([USER_ID])
    second = client.users.batch_read([USER_ID])

    assert first == second == users
    sent = service.requests_to("/api/v1/users")
    assert "If-None-Match" not in sent[0].headers
    assert sent[1].headers["If-None-Match"] == '"v1"'
    assert sent[1].url.params["ids"] == USER_ID


def test_changing_an_answer_does_not_change_what_a_304_answers(service: FakeService) -> None:
    etag_answers(service, f"GET /api/v1/users/{USER_ID}", {"id": USER_ID, "username": "ada"})
    client = service.client()

    first = client.users.get(USER_ID)
    first["username"] = "changed by the caller"
    second = client.users.get(USER_ID)
    second["username"] = "changed again"

    assert client.users.get(USER_ID) == {"id": USER_ID, "username": "ada"}
    assert [r.headers.get("If-None-Match") for r in service.seen] == [None, '"v1"', '"v1"']


def test_batch_read_asks_at_most_a_hundred_ids_at_once(service: FakeService) -> None:
    service.on(
        "GET /api/v1/users",
        lambda request: httpx.Response(
            200, json={"results": [{"id": i} for i in request.url.params["ids"].split(",")]}
        ),
    )
    ids = [f"id{n}" for n in range(250)]

    found = service.client().users.batch_read([*ids, "id0"])

    assert [user["id"] for user in found] == ids
    sizes = [len(r.url.params["ids"].split(",")) for r in service.seen]
    assert sizes == [100, 100, 50]
    assert service.client().users.batch_read([]) == []


def test_a_user_read_is_revalidated_and_its_id_stays_one_path_segment(
    service: FakeService,
) -> None:
    etag_answers(service, "GET /api/v1/users/../api-keys", {"id": "x"})
    client = service.client()

    assert client.users.get("../api-keys") == {"id": "x"}
    assert client.users.get("../api-keys") == {"id": "x"}

    assert [r.url.raw_path for r in service.seen] == [b"/api/v1/users/..%2Fapi-keys"] * 2
    assert service.seen[1].headers["If-None-Match"] == '"v1"'


def test_by_username_answers_none_when_there_is_no_such_user(service: FakeService) -> None:
    service.answer("GET /api/v1/users", body={"results": []})

    assert service.client().users.by_username("nobody") is None
    assert service.seen[0].url.params["username"] == "nobody"


def test_by_email_reads_through_rpc_and_answers_none_when_unknown(service: FakeService) -> None:
    service.on("POST /user/read", lambda request: problem(404, "user_not_found", "No such user."))

    assert service.client().users.by_email("ada@example.com") is None
    assert json.loads(service.seen[0].content) == {"email": "ada@example.com"}


def test_a_list_follows_next_links_on_the_same_origin(service: FakeService) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("cursor") == "c2":
            return httpx.Response(200, json={"results": [{"id": "2"}], "next": None})
        return httpx.Response(
            200,
            json={"results": [{"id": "1"}], "next": f"{BASE}/api/v1/users?cursor=c2&page_size=1"},
        )

    service.on("GET /api/v1/users", page)

    assert [user["id"] for user in service.client().users.list(page_size=1)] == ["1", "2"]
    assert service.seen[0].url.params["page_size"] == "1"


def test_a_list_whose_next_links_loop_raises_instead_of_reading_for_ever(
    service: FakeService,
) -> None:
    links = {None: "c2", "c2": "c3", "c3": "c2"}

    def page(request: httpx.Request) -> httpx.Response:
        assert len(service.seen) <= 50, "the pages were followed without end"
        cursor = links[request.url.params.get("cursor")]
        return httpx.Response(
            200, json={"results": [{"id": cursor}], "next": f"{BASE}/api/v1/groups?cursor={cursor}"}
        )

    service.on("GET /api/v1/groups", page)
    rows: list[Any] = []

    with pytest.raises(ApiError) as caught:
        rows.extend(service.client().groups.list())

    assert caught.value.code == "unexpected_response"
    assert len(service.seen) == 3


def test_a_next_link_to_another_origin_is_refused_before_sending_the_token(
    service: FakeService,
) -> None:
    service.answer(
        "GET /api/v1/api-keys",
        body={"results": [{"id": "1"}], "next": "https://evil.example/api/v1/api-keys?cursor=x"},
    )

    with pytest.raises(ApiError) as caught:
        list(service.client().api_keys.list())

    assert caught.value.code == "foreign_origin"
    assert [request.url.host for request in service.seen] == ["id.example.com"]


def test_a_base_url_that_is_not_http_is_refused() -> None:
    with pytest.raises(ValueError, match="http"):
        MicroClient("file:///etc", credentials=StaticToken("t"))


@pytest.mark.parametrize(
    "base_url", ["http://id.example.com", "http://localhost:8000", "http://10.0.0.5"]
)
def test_plain_http_to_another_host_is_refused_before_any_credential_is_sent(
    base_url: str,
) -> None:
    service = FakeService()

    with pytest.raises(InsecureUrl, match="https://"):
        MicroClient(
            base_url, credentials=ApiKey("mk_secret"), transport=httpx.MockTransport(service)
        )

    assert service.seen == []


@pytest.mark.parametrize(
    "base_url", ["https://id.example.com", "http://127.0.0.1:8000", "http://[::1]:8000"]
)
def test_https_and_plain_http_to_a_loopback_address_are_accepted(base_url: str) -> None:
    MicroClient(base_url, credentials=StaticToken("t")).close()


def test_plain_http_elsewhere_is_sent_only_when_the_caller_opts_in() -> None:
    service = FakeService()
    service.answer("GET /api/v1/me", body={"user": {}})
    client = MicroClient(
        "http://micro.internal",
        credentials=StaticToken("t0"),
        transport=httpx.MockTransport(service),
        allow_insecure_http=True,
    )

    client.me()

    assert [str(request.url) for request in service.seen] == ["http://micro.internal/api/v1/me"]


# --- the other resources ---


KEY_BODY = {"name": "ci", "scopes": ["users:read"], "expires_in_days": 30}


def test_the_resources_send_the_documented_requests(service: FakeService) -> None:
    service.answer("POST /api/v1/users", 201, {"id": USER_ID})
    service.answer("PATCH /api/v1/users/u1", 200, {"id": "u1"})
    service.answer("DELETE /api/v1/users/u1", 204)
    service.answer("POST /api/v1/api-keys", 201, {"key": "mk_x"})
    service.answer("POST /api/v1/api-keys/k1/rotate", 201, {"key": "mk_y"})
    service.answer("DELETE /api/v1/api-keys/k1", 204)
    service.answer("POST /api/v1/access", 201, {"id": "g1"})
    service.answer("DELETE /api/v1/access/g1", 204)
    service.answer("POST /api/v1/groups", 201, {"id": "gr1"})
    service.answer("POST /api/v1/groups/gr1/members", 201, {"role": "member"})
    service.answer("POST /api/v1/objects", 201, {"id": "o1"})
    service.answer("PATCH /api/v1/objects/o1", 200, {"id": "o1"})
    client = service.client()

    client.users.create("ada", email="ada@example.com")
    client.users.update("u1", display_name="Ada")
    client.users.delete("u1")
    assert client.api_keys.mint("ci", ["users:read"], expires_in_days=30)["key"] == "mk_x"
    client.api_keys.rotate("k1", grace_hours=2)
    client.api_keys.revoke("k1")
    client.access.grant(object_type="doc", object_id="42", subject_type="user", subject_id="u1")
    client.access.revoke("g1")
    client.groups.create("ops", scopes=["users:read"])
    client.groups.add_member("gr1", "u1")
    client.objects.create("note", {"a": 1})
    client.objects.update("o1", value=2, version=1)

    bodies = [
        (r.method, r.url.path, json.loads(r.content) if r.content else None) for r in service.seen
    ]
    assert bodies == [
        ("POST", "/api/v1/users", {"username": "ada", "email": "ada@example.com"}),
        ("PATCH", "/api/v1/users/u1", {"display_name": "Ada"}),
        ("DELETE", "/api/v1/users/u1", None),
        (
            "POST",
            "/api/v1/api-keys",
            {"name": "ci", "scopes": ["users:read"], "expires_in_days": 30},
        ),
        ("POST", "/api/v1/api-keys/k1/rotate", {"grace_hours": 2}),
        ("DELETE", "/api/v1/api-keys/k1", None),
        (
            "POST",
            "/api/v1/access",
            {
                "object_type": "doc",
                "object_id": "42",
                "subject_type": "user",
                "subject_id": "u1",
                "read": True,
                "write": False,
                "admin": False,
            },
        ),
        ("DELETE", "/api/v1/access/g1", None),
        ("POST", "/api/v1/groups", {"name": "ops", "scopes": ["users:read"]}),
        ("POST", "/api/v1/groups/gr1/members", {"user_id": "u1"}),
        ("POST", "/api/v1/objects", {"name": "note", "value": {"a": 1}}),
        ("PATCH", "/api/v1/objects/o1", {"value": 2, "version": 1}),
    ]


@pytest.mark.parametrize("allowed", [True, False])
def test_access_check_answers_the_verdict(service: FakeService, allowed: bool) -> None:
    service.answer("POST /api/v1/access/check", body={"allowed": allowed})

    verdict = service.client().access.check(
        object_type="doc", object_id="42", permission="write", subject_id="u1"
    )

    assert verdict is allowed
    assert json.loads(service.seen[0].content) == {
        "object_type": "doc",
        "object_id": "42",
        "permission": "write",
        "subject_id": "u1",
    }


def test_access_and_audit_lists_send_only_the_filters_given(service: FakeService) -> None:
    service.answer("GET /api/v1/access", body={"results": [], "next": None})
    service.answer("GET /api/v1/audit-events", body={"results": [{"id": "e"}], "next": None})
    client = service.client()

    assert list(client.access.list(object_type="doc", subject_id=None)) == []
    assert list(client.audit.events(type="user.created")) == [{"id": "e"}]

    assert dict(service.seen[0].url.params) == {"object_type": "doc"}
    assert dict(service.seen[1].url.params) == {"type": "user.created"}


# --- RPC ---


def test_rpc_posts_the_keywords_to_the_camel_cased_method(service: FakeService) -> None:
    service.answer("POST /user/read", body={"user": {"id": USER_ID}})
    service.answer("POST /user/readSession", body={"session": {"id": "s"}})
    client = service.client()

    assert client.rpc.user.read(id=USER_ID) == {"user": {"id": USER_ID}}
    assert client.rpc.user.read_session(sessionId="s") == {"session": {"id": "s"}}

    assert [json.loads(r.content) for r in service.seen] == [{"id": USER_ID}, {"sessionId": "s"}]


@pytest.mark.parametrize(("service_name", "method"), [("user", "../api"), ("a/b", "read")])
def test_rpc_refuses_names_that_are_not_one_word(
    service: FakeService, service_name: str, method: str
) -> None:
    with pytest.raises(ValueError, match="RPC"):
        service.client().rpc.call(service_name, method)
    assert service.seen == []


# --- the package ---

API_MODULES = ["api.py", "credentials.py", "problems.py", "types.py"]


@pytest.mark.parametrize("module", API_MODULES)
def test_the_api_modules_import_only_the_standard_library_httpx_and_the_package(
    module: str,
) -> None:
    tree = ast.parse((Path(api_module.__file__).parent / module).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) - {"__future__"} <= {"httpx", "micro_client"}
