"""The fast path (authn/gateway/fast_path.py) answers exactly as the full stack does.

A corpus of good and bad requests goes once through the app with the fast path and once with
it turned off: status, headers (in order) and body must be identical for each. The good ones
must have been answered by the fast path itself (the views never ran), so a fast path that
passes everything on cannot pass these tests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import BadHeaderError, HttpResponse
from django.test import RequestFactory, override_settings
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts import selectors as account_selectors
from accounts import services as account_services
from accounts.apis import UserDetailApi, UserListApi
from accounts.models import User
from accounts.principals import principal_for_user
from authn import state as credential_state
from authn.api_keys.services import api_key_create, api_key_revoke
from authn.credentials.services import token_revoke
from authn.gateway import apis as gateway_apis
from authn.gateway import fast_path
from authn.gateway.apis import VerifyApi, allowed_headers, user_tokens
from authn.tokens.authentication import verified_tokens
from authn.tokens.jwt import access_token_issue
from micro_platform.early import EarlyAnswerApplication
from micro_platform.middleware import issuer_hosts
from tests.authn.resource_helpers import (
    BILLING_AUDIENCE,
    BILLING_READ,
    billing,  # noqa: F401 - a fixture
    give_billing_role,
)
from tests.conftest import StateClock, token_for

VERIFY = "/api/v1/auth/verify"
# Valid, but spelt in a way the fast path leaves to the stack.
PASSED_ON = {"two_spaces"}
# A repeated parameter (the stack reads the last one), a parameter the view does not name.
PASSED_ON_QUERIES = ("?scope=users:read&scope=profile", "?format=json")
ISSUER_HOST = sorted(issuer_hosts(settings.MICRO_ISSUER))[0]

pytestmark = pytest.mark.usefixtures("billing")


@pytest.fixture(autouse=True)
def _still_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The minted X-User-Token cache's clock stands still: each run hands out the token minted
    for the principal first, however long the corpus takes (a token re-minted between the two
    runs would differ from the first by its `iat` and `jti` alone)."""
    now = time.time()
    monkeypatch.setattr(gateway_apis, "time", SimpleNamespace(time=lambda: now))


@pytest.fixture(autouse=True)
def _fresh_memos() -> Iterator[None]:
    user_tokens.clear()
    verified_tokens.clear()
    fast_path._forget_templates()
    yield
    user_tokens.clear()
    fast_path._forget_templates()


def get(path: str, meta: dict[str, Any]) -> Any:
    client: Any = APIClient()
    return client.get(path, **meta)


@dataclass(frozen=True)
class Case:
    label: str
    path: str
    meta: dict[str, str] = field(default_factory=dict)
    method: str = "get"
    data: str | None = None
    # The fast path passes it on even when the stack answers 200 (None: either may answer).
    passes_on: bool | None = False

    def send(self) -> Any:
        meta = {"HTTP_HOST": ISSUER_HOST, **self.meta}
        client: Any = APIClient()
        if self.data is None:
            return getattr(client, self.method)(self.path, **meta)
        return client.generic(self.method.upper(), self.path, self.data, "application/json", **meta)


def bearer(credential: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {credential}"}


def _jwt(user: User, scopes: set[str], **claims: Any) -> str:
    return access_token_issue(
        subject=user.pk,
        username=user.username,
        kind=user.kind,
        scopes=frozenset(scopes),
        group_ids=(),
        amr=("pwd",),
        **claims,
    ).token


def _key(owner: User, scopes: list[str], **extra: Any) -> str:
    return api_key_create(
        owner=owner, name="fp", scopes=scopes, expires_in_days=1, actor=None, **extra
    ).key


def _credentials(user: User, other: User, gone: User) -> dict[str, dict[str, str]]:
    """Good and bad credentials by name: the headers carrying each."""
    give_billing_role(user)
    revoked_jwt = token_for(user)
    token_revoke(raw=revoked_jwt, actor=None, ip_address=None)
    revoked_key = api_key_create(
        owner=user, name="gone", scopes=["users:read"], expires_in_days=1, actor=None
    )
    api_key_revoke(api_key=revoked_key.api_key, actor=None)
    read_key = _key(user, ["users:read"])
    good_jwt = _jwt(user, {"users:read", "profile"})
    return {
        "jwt": bearer(good_jwt),
        "jwt_read": bearer(_jwt(user, {"users:read"})),
        "jwt_profile": bearer(_jwt(user, {"profile"})),
        "jwt_write": bearer(_jwt(user, {"users:read", "users:write"})),
        "jwt_other": bearer(token_for(other)),
        "jwt_billing": bearer(_jwt(user, {BILLING_READ}, audience=BILLING_AUDIENCE)),
        "jwt_expired": bearer(_jwt(user, {"users:read"}, lifetime=-120)),
        "jwt_revoked": bearer(revoked_jwt),
        "jwt_tampered": bearer(good_jwt[:-4] + "AAAA"),
        "jwt_garbage": bearer("not.a.jwt"),
        "key_bearer": bearer(read_key),
        "key_header": {"HTTP_X_API_KEY": read_key},
        "key_bound": {"HTTP_X_API_KEY": _key(user, [BILLING_READ], resource="billing")},
        "key_revoked": {"HTTP_X_API_KEY": revoked_key.key},
        "key_unknown": {"HTTP_X_API_KEY": "mk_abcdefgh_" + "x" * 43},
        "key_owner_disabled": {"HTTP_X_API_KEY": _key(gone, ["users:read"])},
        "none": {},
        "both": {**bearer(good_jwt), "HTTP_X_API_KEY": read_key},
        "basic": {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        "lowercase_scheme": {"HTTP_AUTHORIZATION": f"bearer {good_jwt}"},
        "two_spaces": {"HTTP_AUTHORIZATION": f"Bearer  {good_jwt}"},
        "duplicate": {"HTTP_AUTHORIZATION": f"Bearer {good_jwt}, Bearer {good_jwt}"},
        "oversized": bearer("a" * 20_000),
        "non_ascii": {"HTTP_AUTHORIZATION": "Bearer t\u00e9st"},
    }


def _verify_cases(creds: dict[str, dict[str, str]]) -> list[Case]:
    queries = (
        "",
        "?scope=users:read",
        "?scope=users:read+profile",
        "?scope=users:write",
        "?scope=root",
        f"?resource=billing&scope={BILLING_READ}",
        "?resource=billing",
        "?resource=nowhere",
        *PASSED_ON_QUERIES,
    )
    return [
        Case(
            f"verify{query} {name}",
            VERIFY + query,
            meta,
            passes_on=query in PASSED_ON_QUERIES or name in PASSED_ON,
        )
        for query in queries
        for name, meta in creds.items()
    ]


def _user_cases(creds: dict[str, dict[str, str]], user: User, other: User) -> list[Case]:
    # The private view (the user themself with `profile`, `users:write`) is the stack's.
    private_of_other = {"jwt_other", "jwt_write"}
    # `jwt` and the odd spellings of it carry `profile`.
    private_of_self = {"jwt", "lowercase_scheme", "two_spaces", "jwt_profile", "jwt_write"}
    every = set(creds)
    paths: dict[str, set[str] | None] = {
        f"/api/v1/users/{other.pk}": private_of_other,
        f"/api/v1/users/{user.pk}": private_of_self,
        f"/api/v1/users/{str(other.pk).upper()}": private_of_other,
        f"/api/v1/users/{other.pk.hex}": private_of_other,
        f"/api/v1/users/{uuid.uuid4()}": set(),
        "/api/v1/users/not-a-uuid": set(),
        f"/api/v1/users/{other.pk}/roles": None,  # another view
        f"/api/v1/users/{other.pk}?fields=id": every,  # a query string: the stack's
    }
    return [
        Case(
            f"user {path} {name}",
            path,
            meta,
            passes_on=None if passed_on is None else name in passed_on | PASSED_ON,
        )
        for path, passed_on in paths.items()
        for name, meta in creds.items()
    ]


def _batch_cases(creds: dict[str, dict[str, str]], user: User, other: User) -> list[Case]:
    """The batch lookup answers public views whoever asks (the caller themself too)."""
    too_many = ",".join(str(uuid.uuid4()) for _ in range(101))
    queries: dict[str, bool] = {
        f"ids={other.pk},{user.pk}": False,
        f"ids={str(other.pk).upper()},+{other.pk.hex},,not-a-uuid,{uuid.uuid4()}": False,
        f"ids={other.pk},{other.pk}": False,
        "ids=": False,
        f"ids={too_many}": False,  # a 400: the stack's
        f"ids={other.pk}&ids={user.pk}": True,  # repeated: the stack reads the last
        f"ids={other.pk}&page_size=5": True,  # page parameters: the stack checks them
        f"username={other.username}": True,  # another lookup
    }
    return [
        Case(
            f"batch {query} {name}",
            f"/api/v1/users?{query}",
            meta,
            passes_on=passed_on or name in PASSED_ON,
        )
        for query, passed_on in queries.items()
        for name, meta in creds.items()
    ]


def _variant_cases(good: dict[str, str], user_path: str) -> list[Case]:
    variants: dict[str, dict[str, str]] = {
        "cookie": {"HTTP_COOKIE": "sessionid=abc; csrftoken=def"},
        "if_none_match": {"HTTP_IF_NONE_MATCH": '"abc"'},
        "if_none_match_star": {"HTTP_IF_NONE_MATCH": "*"},
        "if_modified_since": {"HTTP_IF_MODIFIED_SINCE": "Sun, 06 Nov 1994 08:49:37 GMT"},
        "bad_host": {"HTTP_HOST": "evil.example"},
        "other_allowed_host": {"HTTP_HOST": "localhost"},
        "testserver_host": {"HTTP_HOST": "testserver"},
        "accept_html": {"HTTP_ACCEPT": "text/html"},
        "accept_json": {"HTTP_ACCEPT": "application/json"},
        "accept_indent": {"HTTP_ACCEPT": "application/json; indent=4"},
        "content_type": {"CONTENT_TYPE": "application/json"},
        "content_length_bad": {"CONTENT_LENGTH": "abc"},
        "content_length_huge": {"CONTENT_LENGTH": str(10 * 1024 * 1024)},
        "https_forwarded": {"HTTP_X_FORWARDED_PROTO": "https"},
        "client_identity_headers": {"HTTP_X_USER_ID": str(uuid.uuid4())},
        "required_scopes_header": {"HTTP_X_REQUIRED_SCOPES": "users:read"},
        "required_scopes_unknown": {"HTTP_X_REQUIRED_SCOPES": "nobody:holds"},
        "required_scopes_missing": {"HTTP_X_REQUIRED_SCOPES": "users:write"},
    }
    answered = {
        "accept_json",
        "content_type",
        "https_forwarded",
        "client_identity_headers",
        "required_scopes_header",
    }
    # The stack logs the first request for a host the issuer does not name (once per process).
    logged_hosts = {"other_allowed_host", "testserver_host"}
    cases = []
    for name, extra in variants.items():
        # The verify is asked under the protected service's host: any allowed one.
        on_verify = name not in answered and name not in logged_hosts
        cases.append(Case(f"{name} verify", VERIFY, {**good, **extra}, passes_on=on_verify))
        # The user read does not read X-Required-Scopes.
        on_user = name not in answered and not name.startswith("required_scopes")
        passes_on = None if name in logged_hosts else on_user
        cases.append(Case(f"{name} user", user_path, {**good, **extra}, passes_on=passes_on))
    for method in ("head", "options", "post", "put", "patch", "delete"):
        for path in (VERIFY, user_path):
            cases.append(Case(f"{method} {path}", path, good, method=method, passes_on=True))
            if method in ("post", "patch"):
                cases.append(Case(f"{method} body {path}", path, good, method, "{}", True))
    cases.append(Case("body on a get", VERIFY, good, data='{"a": 1}', passes_on=True))
    return cases


@pytest.fixture
def corpus(
    user: User, other_user: User, admin_user: User, django_capture_on_commit_callbacks: Any
) -> list[Case]:
    gone = User.objects.create_user(username="gone-owner", password="x" * 12)
    creds = _credentials(user, other_user, gone)
    with django_capture_on_commit_callbacks(execute=True):
        account_services.user_deactivate(
            actor=principal_for_user(admin_user, method="jwt"), user=gone
        )
    good = creds["jwt"]
    return [
        *_verify_cases(creds),
        *_user_cases(creds, user, other_user),
        *_batch_cases(creds, user, other_user),
        *_variant_cases(good, f"/api/v1/users/{other_user.pk}"),
    ]


def _answer(response: Any) -> tuple[int, list[tuple[str, str]], bytes, str]:
    return (
        response.status_code,
        [(name, value) for name, value in response.items() if name != "Date"],
        response.content,
        response.cookies.output(),
    )


def _difference(fast: dict[str, Any], full: dict[str, Any], case: Case) -> list[Any]:
    """What differs, header by header (the tokens make whole answers too long to read)."""
    mine, theirs = fast[case.label], full[case.label]
    headers = [pair for pair in zip(mine[1], theirs[1], strict=False) if pair[0] != pair[1]]
    return [
        mine[0],
        theirs[0],
        headers,
        len(mine[1]),
        len(theirs[1]),
        mine[2][:200],
        theirs[2][:200],
    ]


class _Views:
    """Counts how often each view ran (the stack answered) while the corpus is sent."""

    def __init__(self) -> None:
        self.calls = 0

    def __enter__(self) -> _Views:
        self._patches = [
            mock.patch.object(view, "dispatch", self._counting(view.dispatch), create=False)
            for view in (VerifyApi, UserDetailApi, UserListApi)
        ]
        for patch in self._patches:
            patch.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for patch in self._patches:
            patch.stop()

    def _counting(self, dispatch: Any) -> Any:
        def counted(view: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return dispatch(view, *args, **kwargs)

        return counted


def test_fast_path_and_full_stack_answer_every_request_alike(corpus: list[Case]) -> None:
    for case in corpus:  # the stack answers each kind once, which the fast path learns from
        case.send()
    fast: dict[str, Any] = {}
    answered_by_views: set[str] = set()
    with _Views() as views:
        for case in corpus:
            before = views.calls
            fast[case.label] = _answer(case.send())
            if views.calls != before:
                answered_by_views.add(case.label)

    with override_settings(MICRO_FAST_PATH=False):
        full = {case.label: _answer(case.send()) for case in corpus}

    for case in corpus:
        assert fast[case.label] == full[case.label], (case.label, _difference(fast, full, case))
        if full[case.label][0] == 200 and case.passes_on is not None:
            # A clean request with a valid credential is answered ahead of the views; a fast
            # path that passed everything on would have let the views answer it.
            assert (case.label in answered_by_views) == case.passes_on, case.label
    answered_ahead = [
        case for case in corpus if case.passes_on is False and full[case.label][0] == 200
    ]
    refused = [case for case in corpus if full[case.label][0] >= 400]
    assert len(corpus) >= 300
    assert len(answered_ahead) >= 50
    assert len(refused) >= 150


def test_fast_path_answers_a_good_request_without_the_stack(user: User, other_user: User) -> None:
    meta = {"HTTP_HOST": ISSUER_HOST, **bearer(token_for(user))}
    user_path = f"/api/v1/users/{other_user.pk}"
    for path in (VERIFY, user_path):
        assert get(path, meta).status_code == 200  # the stack, learnt from
    with (
        mock.patch.object(VerifyApi, "dispatch", side_effect=AssertionError),
        mock.patch.object(UserDetailApi, "dispatch", side_effect=AssertionError),
    ):
        verify = get(VERIFY, meta)
        read = get(user_path, meta)
    assert verify.status_code == read.status_code == 200
    assert verify["X-User-Id"] == str(user.pk)
    assert read.json()["id"] == str(other_user.pk)


def test_turned_off_fast_path_leaves_every_request_to_the_stack(user: User) -> None:
    meta = {"HTTP_HOST": ISSUER_HOST, **bearer(token_for(user))}
    with override_settings(MICRO_FAST_PATH=False), _Views() as views:
        for _ in range(3):
            assert get(VERIFY, meta).status_code == 200
    assert views.calls == 3


def test_a_settings_change_reaches_the_headers_of_fast_answers(user: User) -> None:
    meta = {"HTTP_HOST": ISSUER_HOST, **bearer(token_for(user))}
    assert get(VERIFY, meta)["X-Frame-Options"] == "DENY"
    assert get(VERIFY, meta)["X-Frame-Options"] == "DENY"
    with override_settings(X_FRAME_OPTIONS="SAMEORIGIN"):
        get(VERIFY, meta)
        assert get(VERIFY, meta)["X-Frame-Options"] == "SAMEORIGIN"


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def _counted(meta: dict[str, str]) -> tuple[float, float]:
    allowed = ("micro_gateway_verifies_total", {"result": "allowed"})
    timed = ("micro_request_duration_seconds_count", {"method": "GET"})
    before = (_sample(*allowed), _sample(*timed))
    for _ in range(3):
        assert get(VERIFY, meta).status_code == 200
    return _sample(*allowed) - before[0], _sample(*timed) - before[1]


def test_fast_answers_are_counted_as_the_stack_counts_them(user: User) -> None:
    meta = {"HTTP_HOST": ISSUER_HOST, **bearer(token_for(user))}
    get(VERIFY, meta)  # learnt from
    with mock.patch.object(VerifyApi, "dispatch", side_effect=AssertionError):
        fast = _counted(meta)
    with override_settings(MICRO_FAST_PATH=False):
        full = _counted(meta)
    assert fast == full == (3.0, 3.0)


def test_an_api_key_used_through_the_fast_path_records_its_use(user: User) -> None:
    host = {"HTTP_HOST": ISSUER_HOST}
    get(VERIFY, {**host, **bearer(token_for(user))})  # learnt from
    minted = api_key_create(
        owner=user, name="fresh", scopes=["users:read"], expires_in_days=1, actor=None
    )
    assert minted.api_key.last_used_at is None
    with mock.patch.object(VerifyApi, "dispatch", side_effect=AssertionError):
        assert get(VERIFY, {**host, "HTTP_X_API_KEY": minted.key}).status_code == 200
    minted.api_key.refresh_from_db()
    assert minted.api_key.last_used_at is not None


def test_a_fast_answer_unlike_the_stacks_is_never_used(
    user: User, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def forged(principal: Any) -> dict[str, str]:
        return {**allowed_headers(principal), "X-User-Name": "someone-else"}

    monkeypatch.setattr(fast_path, "allowed_headers", forged)
    meta = {"HTTP_HOST": ISSUER_HOST, **bearer(token_for(user))}
    for _ in range(3):
        assert get(VERIFY, meta)["X-User-Name"] == user.username
    assert not fast_path._templates
    assert caplog.text.count("differs from the stack's") == 1


@override_settings(SECURE_HSTS_SECONDS=3600)
def test_https_and_http_answers_each_keep_the_stacks_headers(user: User) -> None:
    meta: dict[str, Any] = {"HTTP_HOST": ISSUER_HOST, **bearer(token_for(user))}
    for secure in (False, True):
        get(VERIFY, {**meta, "secure": secure})  # learnt from
    with mock.patch.object(VerifyApi, "dispatch", side_effect=AssertionError):
        http = get(VERIFY, {**meta, "secure": False})
        https = get(VERIFY, {**meta, "secure": True})
    assert http.status_code == https.status_code == 200
    assert "Strict-Transport-Security" not in http
    assert https["Strict-Transport-Security"] == "max-age=3600"


# --- The early answers: the fast path at the WSGI level, ahead of Django's handler ----------


@pytest.fixture
def _handler_signals() -> Iterator[None]:
    """Django's WSGI handler closes old database connections at each request's start and end,
    which would close the test's transaction (the test client turns this off the same way)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


class _CountingHandler:
    """Django's WSGI handler, counting the requests that reached it."""

    def __init__(self) -> None:
        self.handler = WSGIHandler()
        self.calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return self.handler(environ, start_response)


def _environ(case: Case) -> dict[str, Any]:
    meta: dict[str, Any] = {"HTTP_HOST": ISSUER_HOST, **case.meta}
    request = RequestFactory().generic(
        case.method.upper(), case.path, case.data or "", "application/json", **meta
    )
    return dict(request.environ)


def _wsgi_answer(app: Any, case: Case) -> tuple[str, list[tuple[str, str]], bytes]:
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        started.update(status=status, headers=headers)

    result = app(_environ(case), start_response)
    try:
        body = b"".join(result)
    finally:
        getattr(result, "close", lambda: None)()
    headers = [(name, value) for name, value in started["headers"] if name != "Date"]
    return started["status"], headers, body


@pytest.mark.usefixtures("_handler_signals")
def test_early_answers_and_the_handler_answer_every_request_alike(corpus: list[Case]) -> None:
    handler = _CountingHandler()
    app = EarlyAnswerApplication(handler)  # type: ignore[arg-type]
    for case in corpus:  # the handler answers each kind once, which the middleware learns from
        _wsgi_answer(app, case)
    early: dict[str, Any] = {}
    reached_handler: set[str] = set()
    for case in corpus:
        before = handler.calls
        early[case.label] = _wsgi_answer(app, case)
        if handler.calls != before:
            reached_handler.add(case.label)

    with override_settings(MICRO_FAST_PATH=False):
        full_handler = _CountingHandler()
        full_app = EarlyAnswerApplication(full_handler)  # type: ignore[arg-type]
        full = {case.label: _wsgi_answer(full_app, case) for case in corpus}
    assert full_handler.calls == len(corpus)  # turned off, it answers nothing early

    for case in corpus:
        assert early[case.label] == full[case.label], case.label
        if full[case.label][0] == "200 OK" and case.passes_on is not None:
            assert (case.label in reached_handler) == case.passes_on, case.label
    assert sum(1 for case in corpus if case.label not in reached_handler) >= 50


@pytest.mark.usefixtures("_handler_signals")
def test_a_request_tried_early_is_not_tried_again_by_the_middleware(
    user: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = fast_path.principal_from_access_token

    def counted(raw: str, audiences: Any) -> Any:
        calls.append(raw)
        return real(raw, audiences)

    monkeypatch.setattr(fast_path, "principal_from_access_token", counted)
    app = EarlyAnswerApplication(WSGIHandler())
    good = Case("good", VERIFY, bearer(token_for(user)))
    assert _wsgi_answer(app, good)[0] == "200 OK"  # learnt from: early, then the middleware
    assert len(calls) == 2
    calls.clear()
    revoked = token_for(user)
    token_revoke(raw=revoked, actor=None, ip_address=None)
    assert _wsgi_answer(app, Case("revoked", VERIFY, bearer(revoked)))[0].startswith("401")
    assert _wsgi_answer(app, Case("missing scope", VERIFY + "?scope=users:write", good.meta))[
        0
    ].startswith("403")
    assert _wsgi_answer(app, good)[0] == "200 OK"
    assert len(calls) == 3  # once each, early; the stack's own authentication is not counted


@pytest.mark.usefixtures("_handler_signals")
def test_early_answers_are_counted_as_the_handlers_answers_are(user: User) -> None:
    app = EarlyAnswerApplication(WSGIHandler())
    good = Case("good", VERIFY, bearer(token_for(user)))
    _wsgi_answer(app, good)  # learnt from
    allowed = ("micro_gateway_verifies_total", {"result": "allowed"})
    timed = ("micro_request_duration_seconds_count", {"method": "GET"})
    before = (_sample(*allowed), _sample(*timed))
    with mock.patch.object(WSGIHandler, "get_response", side_effect=AssertionError):
        for _ in range(3):
            assert _wsgi_answer(app, good)[0] == "200 OK"
    assert (_sample(*allowed) - before[0], _sample(*timed) - before[1]) == (3.0, 3.0)


@override_settings(MICRO_EARLY_ANSWER="")
@pytest.mark.usefixtures("_handler_signals")
def test_without_an_answerer_every_request_reaches_the_handler(user: User) -> None:
    handler = _CountingHandler()
    app = EarlyAnswerApplication(handler)  # type: ignore[arg-type]
    good = Case("good", VERIFY, bearer(token_for(user)))
    for _ in range(3):
        assert _wsgi_answer(app, good)[0] == "200 OK"
    assert handler.calls == 3


def test_an_answers_own_header_values_are_checked_as_django_checks_them() -> None:
    template = fast_path._Template(
        (("x-a", "X-A", None), ("x-b", "X-B", "fixed"), ("content-length", "Content-Length", None))
    )
    for value in ("plain", "zo\u00eb", "\u65e5\u672c"):
        answer = fast_path._Answer(VerifyApi, b"{}", {"X-A": value})
        expected = HttpResponse(
            b"{}", headers={"X-A": value, "X-B": "fixed", "Content-Length": "2"}
        )
        del expected["Content-Type"]
        assert list(template.response(answer).items()) == list(expected.items())
    for value in ("a\nb", "a\rb"):
        with pytest.raises(BadHeaderError):
            template.response(fast_path._Answer(VerifyApi, b"", {"X-A": value}))


# --- The public views the fast path remembers (authn/state.py's user memo) ----------------


def _fast_read(path: str, meta: dict[str, str]) -> Any:
    """The user read, answered by the fast path (the view must not run)."""
    with mock.patch.object(UserDetailApi, "dispatch", side_effect=AssertionError):
        return get(path, meta)


def _learnt_read(reader: User, read: User) -> tuple[dict[str, str], str]:
    """The headers and path of `reader` reading `read`, once through the stack (learnt from)."""
    meta = {"HTTP_HOST": ISSUER_HOST, **bearer(token_for(reader))}
    path = f"/api/v1/users/{read.pk}"
    assert get(path, meta).status_code == 200
    return meta, path


def _user_reads() -> Any:
    """Counts the fast path's reads of users from the database."""
    return mock.patch.object(
        account_selectors, "users_public_by_ids", wraps=account_selectors.users_public_by_ids
    )


def test_a_user_saved_here_is_read_afresh_at_once(
    user: User, other_user: User, state_clock: StateClock
) -> None:
    meta, path = _learnt_read(user, other_user)
    credential_state.forget_here()
    with _user_reads() as reads:
        first = _fast_read(path, meta)
        assert _fast_read(path, meta).content == first.content
    assert reads.call_count == 1  # the second answer came from the memo
    other_user.display_name = "Renamed Here"
    other_user.save()
    assert _fast_read(path, meta).json()["display_name"] == "Renamed Here"


def test_a_user_changed_elsewhere_is_read_afresh_within_the_poll_interval(
    user: User, other_user: User, state_clock: StateClock
) -> None:
    meta, path = _learnt_read(user, other_user)
    before = _fast_read(path, meta).json()["display_name"]
    # Another instance renames the user and, after its commit, bumps the shared generation.
    User.objects.filter(pk=other_user.pk).update(display_name="Renamed Elsewhere")
    cache.incr(credential_state.STATE_GENERATION_KEY)
    assert _fast_read(path, meta).json()["display_name"] == before  # within the bound
    state_clock.poll_due()
    assert _fast_read(path, meta).json()["display_name"] == "Renamed Elsewhere"


def test_a_deleted_user_is_not_answered_from_memory(user: User, other_user: User) -> None:
    meta, path = _learnt_read(user, other_user)
    assert _fast_read(path, meta).status_code == 200
    other_user.delete()
    assert get(path, meta).status_code == 404


def test_a_reader_of_the_private_view_is_passed_on_before_any_read(user: User) -> None:
    meta, path = _learnt_read(user, user)  # the user itself, with `profile`
    with mock.patch.object(fast_path, "_remembered", wraps=fast_path._remembered) as reads:
        response = get(path, meta)
    assert response.status_code == 200
    assert response.json()["email"] == user.email  # the stack's private view
    assert reads.call_count == 0


def test_without_a_poll_interval_every_read_reads_the_database(
    user: User, other_user: User, settings: Any
) -> None:
    settings.MICRO_REVOCATION_POLL_MS = 0
    meta, path = _learnt_read(user, other_user)
    with _user_reads() as reads:
        for _ in range(3):
            assert _fast_read(path, meta).status_code == 200
    assert reads.call_count == 3


def test_the_batch_lookup_reads_only_the_users_it_does_not_remember(
    user: User, other_user: User, admin_user: User
) -> None:
    meta = {"HTTP_HOST": ISSUER_HOST, **bearer(token_for(user))}
    batch = f"/api/v1/users?ids={other_user.pk},{admin_user.pk},{uuid.uuid4()}"
    assert get(batch, meta).status_code == 200  # learnt from
    credential_state.forget_here()
    assert get(f"/api/v1/users/{other_user.pk}", meta).status_code == 200  # remembered
    with (
        _user_reads() as reads,
        mock.patch.object(UserListApi, "dispatch", side_effect=AssertionError),
    ):
        first = get(batch, meta)
        assert [call.kwargs["ids"] for call in reads.call_args_list][0] != []
        asked = {pk for call in reads.call_args_list for pk in call.kwargs["ids"]}
        assert other_user.pk not in asked and admin_user.pk in asked
        reads.reset_mock()
        admin_user.display_name = "Renamed Admin"
        admin_user.save()
        second = get(batch, meta)
    names = [entry["display_name"] for entry in second.json()["results"]]
    assert "Renamed Admin" in names
    assert len(first.json()["results"]) == len(second.json()["results"]) == 2
