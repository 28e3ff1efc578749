"""The fast path: the gateway verify and the public user reads (one user, or a batch by ids),
answered ahead of Django's middleware and DRF for a clean request with a valid credential
(docs/gateway.md).

It answers only what the full stack would answer with a 200, with the same status, headers
and body; every other request — no or ambiguous credential, a cookie, a body, a conditional
request, an unknown scope or service, a missing scope, a private view, any exception — goes
on to the full stack, which stays the only source of every error. The headers the stack
adds around the view (security headers, CSP, X-Frame-Options, Vary, Allow…) are taken from
the stack itself: the first request of each kind is answered by the stack, and its response,
once it matches the fast path's own answer, becomes the template of the later ones. A
settings change forgets the templates. `MICRO_FAST_PATH=false` turns the fast path off.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import MiddlewareNotUsed
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase, ResponseHeaders
from django.urls import get_script_prefix, reverse

from accounts import selectors as account_selectors
from accounts.api_rules import batch_ids, public_views, sees_private_of
from accounts.apis import UserDetailApi, UserListApi
from authn import state
from authn.api_keys.authentication import API_KEY_HEADER, bound_elsewhere
from authn.api_keys.services import api_key_authenticate
from authn.gateway.apis import (
    VerifyApi,
    allowed_headers,
    key_accepted,
    required_scopes_of,
    target_audiences,
    target_of,
)
from authn.tokens.authentication import API_KEY_PREFIX, principal_from_access_token
from micro_platform import metrics
from micro_platform.health import database_liveness
from micro_platform.http import cacheable_headers, json_body
from micro_platform.identity import Principal
from micro_platform.ids import parse_uuid
from micro_platform.middleware import FORWARD_AUTH_PATH, issuer_hosts, issuer_warning_due
from micro_platform.scope_checks import principal_meets, required_scopes_for

logger = logging.getLogger("micro.fast_path")

# A bearer credential the full stack reads unchanged: the scheme in any case, one space, one
# token without spaces or commas (two Authorization headers arrive joined by a comma).
_BEARER = re.compile(r"(?i:bearer) ([A-Za-z0-9._~+/=-]+)")
_API_KEY = re.compile(r"[A-Za-z0-9._~+/=-]+")
# Each of these makes the request one for the full stack: state (cookies), conditional or
# partial requests, a body (with Content-Length, also checked). A Content-Type alone is
# harmless: neither view reads a body.
_REFUSED_HEADERS = (
    "HTTP_COOKIE",
    "HTTP_TRANSFER_ENCODING",
    "HTTP_EXPECT",
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_RANGE",
    "HTTP_RANGE",
)
# What DRF's negotiation answers with the plain JSON renderer (no parameters such as indent).
_ACCEPTS = frozenset({None, "*/*", "application/json"})
_VERIFY_PARAMETERS = frozenset({"scope", "resource"})


@dataclass(frozen=True, slots=True)
class _Answer:
    """The fast path's own answer: the body and the headers the view itself sets."""

    route: type
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class _Template:
    """The stack's 200 for one kind of request: its headers in order, each as (lower-case
    name, name, value), the value None where it is the answer's own (and Content-Length,
    which follows the body)."""

    headers: tuple[tuple[str, str, str | None], ...]

    def response(self, answer: _Answer) -> HttpResponse:
        headers = ResponseHeaders({})
        # The stack's values were checked (latin-1, no line breaks) when the stack set them:
        # they go into the mapping's store as ResponseHeaders keeps them, without a second
        # check each (Django 5.2's store: lower-case name -> (name, value)). So does an
        # answer's own value that is plain ASCII without a line break, which the check would
        # keep as it is; any other value is set the checked way (MIME-encoded or refused).
        # The equivalence test compares every header.
        store = headers._store
        for key, name, value in self.headers:
            if value is None:
                if key == "content-length":
                    value = str(len(answer.body))
                else:
                    value = answer.headers[name]
                    if not _plain(value):
                        headers[name] = value
                        continue
            store[key] = (name, value)
        response = HttpResponse(answer.body)
        response.headers = headers
        return response


def _plain(value: str) -> bool:
    return value.isascii() and "\n" not in value and "\r" not in value


def _template(
    answer: _Answer, request: HttpRequest, response: HttpResponseBase
) -> _Template | None:
    """The template of the stack's `response`, when it is the 200 the fast path answered with
    the same body and the same values of every header the view sets; None otherwise."""
    match = getattr(request, "resolver_match", None)
    if (
        response.status_code != 200
        or not isinstance(response, HttpResponse)
        or response.cookies
        or match is None
        or getattr(match.func, "view_class", None) is not answer.route
        or response.content != answer.body
        or any(response.get(name) != value for name, value in answer.headers.items())
    ):
        return None
    stack_names = dict(response.items())
    if any(name not in stack_names for name in answer.headers):
        return None  # a header under another spelling: no template
    headers = tuple(
        (
            name.lower(),
            name,
            None if name in answer.headers or name.lower() == "content-length" else value,
        )
        for name, value in response.items()
    )
    return _Template(headers)


_templates: dict[tuple[type, bool, frozenset[str]], _Template] = {}
_differed: set[tuple[type, bool, frozenset[str]]] = set()
# Hosts ALLOWED_HOSTS accepts, as the request names them (bounded: a client choosing the Host
# header must not grow it without end; past the bound each request is checked as before).
_allowed_hosts: set[tuple[Any, ...]] = set()
_ALLOWED_HOSTS_MAX = 64
# What `request.get_host()` reads (besides settings).
_HOST_META = (
    "HTTP_X_FORWARDED_HOST",
    "HTTP_HOST",
    "SERVER_NAME",
    "SERVER_PORT",
    "HTTP_X_FORWARDED_PORT",
)


@receiver(setting_changed)
def _forget_templates(**kwargs: Any) -> None:
    # Any setting may change what the stack adds (CSP, security headers, middleware).
    _templates.clear()
    _differed.clear()
    _allowed_hosts.clear()
    _shared.cache_clear()
    state.user_memo.forget()  # the time zone of `created_at`, say


def _credential(meta: Mapping[str, Any]) -> str | None:
    """The one credential the request carries, read as the stack reads it; None when there is
    none or it is in any way ambiguous (both headers, another scheme, odd characters)."""
    authorization = meta.get("HTTP_AUTHORIZATION")
    api_key = meta.get(API_KEY_HEADER)
    if authorization is not None:
        match = _BEARER.fullmatch(authorization) if api_key is None else None
        return match.group(1) if match else None
    if api_key is not None and _API_KEY.fullmatch(api_key) and api_key.startswith(API_KEY_PREFIX):
        return str(api_key)
    return None


def _principal(raw: str, audiences: tuple[str, ...] | None) -> Principal:
    """The credential's principal through the stack's own entry points (which raise on a bad
    credential: the stack then answers that request)."""
    if raw.startswith(API_KEY_PREFIX):
        return api_key_authenticate(raw=raw)
    return principal_from_access_token(raw, audiences)


def _verify(request: HttpRequest, raw: str) -> _Answer | None:
    query = request.GET
    if not _VERIFY_PARAMETERS.issuperset(query) or any(
        len(values) != 1 for _, values in query.lists()
    ):
        return None
    target = target_of(query)
    principal = _principal(raw, target_audiences(target))
    if principal.method == "api_key" and not key_accepted(principal, target):
        return None
    database_liveness.require()
    if not principal.has_scopes(required_scopes_of(query, request.META)):
        return None
    return _Answer(VerifyApi, b"", allowed_headers(principal))


def _reader(raw: str, view: type) -> Principal | None:
    """The credential's principal when it may read users through `view` with GET: not a key
    bound to another service, holding the view's scopes."""
    principal = _principal(raw, None)
    if principal.method == "api_key" and bound_elsewhere(principal):
        return None
    requirement = required_scopes_for(view, "GET")
    if requirement is None or not principal_meets(principal, requirement):
        return None
    return principal


def _user(request: HttpRequest, raw: str, user_id: str) -> _Answer | None:
    if request.META.get("QUERY_STRING") or "/" in user_id:
        return None
    principal = _reader(raw, UserDetailApi)
    parsed = parse_uuid(user_id)
    # A reader who may see more than the public view (the user itself, an admin) gets the
    # stack's answer: checked before the read, which that answer would not use.
    if principal is None or parsed is None or sees_private_of(principal, parsed):
        return None
    found = _remembered([parsed])
    if not found:
        return None
    body = found[0][2]
    return _Answer(UserDetailApi, body, cacheable_headers(body))


def _users(request: HttpRequest, raw: str) -> _Answer | None:
    """The batch lookup, `GET /api/v1/users?ids=…` (public views, whoever asks)."""
    query = request.GET
    if list(query) != ["ids"] or len(query.getlist("ids")) != 1:
        return None
    wanted = batch_ids(query["ids"])
    if wanted is None or _reader(raw, UserListApi) is None:
        return None
    found = _remembered({pk for pk in map(parse_uuid, wanted) if pk is not None})
    found.sort(key=lambda entry: (entry[1], entry[0]))  # the view's order
    body = _BATCH_OPEN + _COMMA.join(entry[2] for entry in found) + _BATCH_CLOSE
    return _Answer(UserListApi, body, cacheable_headers(body))


# What the memo keeps of a user: the id, `created_at` (the batch lookup's order) and the public
# view as JSON.
_Public = tuple[uuid.UUID, datetime, bytes]
# `json_body({"results": [a, b]})` is `_BATCH_OPEN + a + _COMMA + b + _BATCH_CLOSE`, each user's
# view encoded alone (the separators are the renderer's).
_EMPTY_BATCH = json_body({"results": []})
_BATCH_OPEN = _EMPTY_BATCH[: _EMPTY_BATCH.index(b"[]") + 1]
_BATCH_CLOSE = _EMPTY_BATCH[_EMPTY_BATCH.index(b"[]") + 1 :]
_COMMA = json_body([0, 0])[2:-2]


def _remembered(pks: Iterable[uuid.UUID]) -> list[_Public]:
    """The public views of the existing users among `pks`, unordered: each remembered per
    process while the credential state generation is unchanged (authn/state.py: every save
    or deletion of a user changes it), the others read in one query (the batch lookup's
    selector) and remembered. The database must be up, as it must for the stack."""
    database_liveness.require()
    epoch = state.user_memo.epoch()  # before the read: see authn/state.py
    found: list[_Public] = []
    missing = []
    for pk in pks:
        entry = state.user_memo.lookup(pk) if epoch is not None else state.MISSING
        if entry is state.MISSING:
            missing.append(pk)
        else:
            found.append(entry)
    if missing:
        rows = account_selectors.users_public_by_ids(ids=missing)
        for row, view in zip(rows, public_views(rows), strict=True):
            entry = (row["id"], row["created_at"], json_body(view))
            state.user_memo.store(epoch, row["id"], entry)
            found.append(entry)
    return found


class _FastPath:
    """The routes the fast path answers under this process's settings."""

    def __init__(self) -> None:
        script_prefix = get_script_prefix()
        user_prefix = reverse("user-detail", kwargs={"user_id": "-"})[:-1]
        self.user_prefix = "/" + user_prefix.removeprefix(script_prefix)
        self.users_path = "/" + reverse("user-list").removeprefix(script_prefix)
        self.issuer_hosts = issuer_hosts(settings.MICRO_ISSUER)

    def answer(self, request: HttpRequest) -> _Answer | None:
        path = request.path_info
        verify = path == FORWARD_AUTH_PATH
        if not verify and path != self.users_path and not path.startswith(self.user_prefix):
            return None
        # The stack logs the first request for a host the issuer does not name: it answers
        # those until it has.
        if not verify and issuer_warning_due(request.META.get("HTTP_HOST", ""), self.issuer_hosts):
            return None
        raw = _clean(request)
        if raw is None:
            return None
        if verify:
            return _verify(request, raw)
        if path == self.users_path:
            return _users(request, raw)
        return _user(request, raw, path[len(self.user_prefix) :])

    def respond(self, request: HttpRequest, answer: _Answer) -> HttpResponse | None:
        """The answer in the stack's headers; None while this kind has no template."""
        template = _templates.get(_kind(request, answer))
        if template is None:
            return None
        response = template.response(answer)
        if answer.route is VerifyApi:
            metrics.gateway_verify(response.status_code)
        return response


def _enabled() -> bool:
    # Refusing user agents and adding `www.` are the stack's: then it answers everything.
    return bool(
        settings.MICRO_FAST_PATH
        and not settings.DISALLOWED_USER_AGENTS
        and not settings.PREPEND_WWW
    )


@functools.cache
def _shared() -> _FastPath | None:
    return _FastPath() if _enabled() else None


def _kind(request: HttpRequest, answer: _Answer) -> tuple[type, bool, frozenset[str]]:
    # The headers an answer sets depend on the principal (an e-mail or not, a minted token
    # or not): each set of them has its own template.
    return (answer.route, request.is_secure(), frozenset(answer.headers))


# Set in the WSGI environ when the early answer (below) has tried a request and passed it on,
# so that the middleware does not try it again. No request header can set it: those arrive
# as HTTP_* keys.
_TRIED = "micro.fast_path.tried"


def early_response(request: HttpRequest) -> HttpResponse | None:
    """The fast path at the WSGI level, ahead of Django's handler (micro_platform/early.py):
    the answer to a clean request of a kind whose template the middleware has learnt. None
    passes the request to the handler; the middleware then learns the first of each kind."""
    fast = _shared()
    if fast is None:
        return None
    try:
        answer = fast.answer(request)
        if answer is None:
            request.META[_TRIED] = True
            return None
        return fast.respond(request, answer)
    except Exception:  # noqa: BLE001 - doubt of any kind: the stack answers, errors too
        request.META[_TRIED] = True
        return None


class FastPathMiddleware:
    """Answers a clean verify or public user read with a valid credential; passes every
    other request, unchanged, to the rest of the stack, which answers all errors. It learns
    the stack's headers for each kind of answer (the template the answers reuse).

    Second in MIDDLEWARE, right after the request-duration histogram, which so counts the
    requests answered here as it counts the others."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        if not _enabled():
            raise MiddlewareNotUsed
        self.get_response = get_response
        self.fast = _FastPath()

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if _TRIED in request.META:
            return self.get_response(request)
        try:
            answer = self.fast.answer(request)
        except Exception:  # noqa: BLE001 - doubt of any kind: the stack answers, errors too
            answer = None
        if answer is None:
            return self.get_response(request)
        response = self.fast.respond(request, answer)
        if response is None:
            return self._learn(_kind(request, answer), answer, request)
        return response

    def _learn(
        self, key: tuple[type, bool, frozenset[str]], answer: _Answer, request: HttpRequest
    ) -> HttpResponseBase:
        response = self.get_response(request)
        template = _template(answer, request, response)
        if template is not None:
            _templates[key] = template
        elif response.status_code == 200 and key not in _differed:
            # Both answered 200 but differ: this kind stays with the stack (logged once).
            _differed.add(key)
            logger.warning("The fast path's answer differs from the stack's for %s.", key[0])
        return response


def _clean(request: HttpRequest) -> str | None:
    """The credential of a request nothing but the credential can make doubtful."""
    meta = request.META
    if (
        request.method != "GET"
        or meta.get("CONTENT_LENGTH")
        or meta.get("HTTP_ACCEPT") not in _ACCEPTS
        or any(meta.get(name) for name in _REFUSED_HEADERS)
        or (settings.SECURE_SSL_REDIRECT and not request.is_secure())
    ):
        return None
    _check_host(request)
    return _credential(meta)


def _check_host(request: HttpRequest) -> None:
    """Raises, as `request.get_host()` does, for a host ALLOWED_HOSTS refuses (the stack then
    answers the request); the host headers once accepted are not checked again until a
    setting changes."""
    meta = request.META
    host = tuple(meta.get(name) for name in _HOST_META)
    if host in _allowed_hosts:
        return
    request.get_host()
    if len(_allowed_hosts) < _ALLOWED_HOSTS_MAX:
        _allowed_hosts.add(host)
