"""A client of the Micro User Service's REST API and its Micro-style RPC facade (httpx, sync).

    with MicroClient("https://id.example.com", credentials=ApiKey("mk_...")) as client:
        user = client.users.get(user_id)
        allowed = client.access.check(object_type="doc", object_id="42", permission="read")

Every refusal is an `ApiError` with the problem's `status` and `code`. Credentials only ever
go to the service's own origin, over https (plain http only to a loopback IP literal, unless
the caller opts in with `allow_insecure_http=True`): pagination links elsewhere are refused.
"""

from __future__ import annotations

import copy
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, cast
from urllib.parse import quote

import httpx

from micro_client.credentials import (
    ApiKey,
    ClientCredentials,
    Credentials,
    Password,
    StaticToken,
)
from micro_client.problems import UNEXPECTED_RESPONSE, ApiError
from micro_client.types import (
    ApiKeyOut,
    AuditEventOut,
    GrantOut,
    GroupOut,
    MemberOut,
    MeOut,
    MintedKeyOut,
    ObjectOut,
    Permission,
    RoleOut,
    SubjectType,
    UserPrivateOut,
    UserPublicOut,
)
from micro_client.verifier import InsecureUrl, require_secure_url

__all__ = [
    "ApiError",
    "ApiKey",
    "ClientCredentials",
    "Credentials",
    "MicroClient",
    "Password",
    "StaticToken",
]

API = "/api/v1"
TIMEOUT_SECONDS = 10.0
USER_AGENT = "micro-client-python/1"
MAX_BATCH_IDS = 100  # the server's limit for one `?ids=` lookup
ETAG_CACHE_SIZE = 256
RPC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*\Z")


def segment(value: str) -> str:
    """One path segment: an id can never reach another path (`../`, `?`, `/`)."""
    return quote(str(value), safe="")


class EtagCache:
    """The last body and ETag of each cached URL, least recently used dropped first.

    Bodies go in and come out as copies: a caller changing what it was given cannot change
    what a later 304 answers with."""

    def __init__(self, size: int = ETAG_CACHE_SIZE) -> None:
        self._size = size
        self._entries: OrderedDict[str, tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, url: str) -> tuple[str, Any] | None:
        with self._lock:
            entry = self._entries.get(url)
            if entry is None:
                return None
            self._entries.move_to_end(url)
            return entry[0], copy.deepcopy(entry[1])

    def put(self, url: str, etag: str, body: Any) -> None:
        with self._lock:
            self._entries[url] = (etag, copy.deepcopy(body))
            self._entries.move_to_end(url)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)


class MicroClient:
    """The service at `base_url` (its issuer URL), called with `credentials`.

    `base_url` must be `https://`, or plain `http://` to a loopback IP literal: an API key, a
    client secret or a password sent in clear text could be read by anyone on the path, so any
    other URL raises InsecureUrl unless `allow_insecure_http=True` says the caller accepts that.
    `transport` replaces httpx's (tests pass an `httpx.MockTransport`). Thread-safe: share one
    client per process; close it (or use it as a context manager) when done.
    """

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        self.base_url = httpx.URL(base_url.rstrip("/"))
        if self.base_url.scheme not in ("http", "https") or not self.base_url.host:
            raise InsecureUrl(f"base_url must be an http(s) URL, not {base_url!r}")
        if not allow_insecure_http:
            require_secure_url(str(self.base_url), what="the API's base_url")
        self.credentials = credentials
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        self._etags = EtagCache()
        self.users = Users(self)
        self.groups = Groups(self)
        self.api_keys = ApiKeys(self)
        self.access = Access(self)
        self.objects = Objects(self)
        self.audit = Audit(self)
        self.rpc = Rpc(self)

    def __enter__(self) -> MicroClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def token(self) -> str:
        """The credentials' current access token (obtained or renewed when due), e.g. to
        verify it or to pass it on to another service."""
        return self.credentials.authorization(self._http).removeprefix("Bearer ")

    def me(self) -> MeOut:
        """The calling account, its scopes and groups (GET /api/v1/me)."""
        return cast(MeOut, self.request("GET", f"{API}/me"))

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        cache: bool = False,
    ) -> Any:
        """The decoded JSON answer (None for 204); a refusal raises ApiError. `path` is on the
        service (or a full URL of its origin); `cache` revalidates a GET with its ETag."""
        url = self._url(path, params)
        cached = self._etags.get(str(url)) if cache else None
        headers = {"If-None-Match": cached[0]} if cached else {}
        response = self._send(method, url, json=json, headers=headers)
        if cached and response.status_code == 304:
            return cached[1]
        if not response.is_success:
            raise ApiError.from_response(response)
        if response.status_code == 204 or not response.content:
            return None
        body = _json(response)
        if cache and (etag := response.headers.get("ETag")):
            self._etags.put(str(url), etag, body)
        return body

    def paginate(self, path: str, params: Mapping[str, Any] | None = None) -> Iterator[Any]:
        """Every row of a cursor-paginated list, following each page's `next` link; a link
        back to a page already read raises ApiError instead of looping for ever."""
        url: str | None = path
        seen: set[str] = set()
        while url is not None:
            if url in seen:
                raise ApiError(
                    0, UNEXPECTED_RESPONSE, "Pages loop", f"{url} was read already in this list."
                )
            seen.add(url)
            page = self.request("GET", url, params=params)
            params = None  # `next` carries the query
            yield from page["results"]
            url = page.get("next")

    def _url(self, path: str, params: Mapping[str, Any] | None) -> httpx.URL:
        url = self.base_url.join(path) if "://" in path else httpx.URL(str(self.base_url) + path)
        if (url.scheme, url.host, url.port) != (
            self.base_url.scheme,
            self.base_url.host,
            self.base_url.port,
        ):
            raise ApiError(
                0,
                "foreign_origin",
                "Refused to send credentials elsewhere",
                f"{url} is not on {self.base_url}.",
            )
        if params:
            kept = {name: value for name, value in params.items() if value is not None}
            url = url.copy_merge_params(kept)
        return url

    def _send(
        self, method: str, url: httpx.URL, *, json: Any, headers: dict[str, str]
    ) -> httpx.Response:
        """Sends with the credential's token; a 401 renews the token and retries once (the
        request did nothing: it was refused before any handler ran)."""
        authorization = self.credentials.authorization(self._http)
        response = self._http.request(
            method, url, json=json, headers={**headers, "Authorization": authorization}
        )
        if response.status_code == 401:
            self.credentials.invalidate(authorization)
            renewed = self.credentials.authorization(self._http)
            if renewed != authorization:
                response = self._http.request(
                    method, url, json=json, headers={**headers, "Authorization": renewed}
                )
        return response


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise ApiError(
            response.status_code,
            UNEXPECTED_RESPONSE,
            "Unexpected answer",
            "The service answered without a JSON body.",
        ) from exc


class Resource:
    def __init__(self, client: MicroClient) -> None:
        self._client = client


class Users(Resource):
    """Users: read (ETag-revalidated), batch read, lookups, create, update, deactivate, list."""

    def get(self, user_id: str) -> UserPrivateOut:
        """One user; another's account shows only its public fields unless the caller has
        `users:write`. Revalidated with the ETag of the last answer."""
        return cast(
            UserPrivateOut,
            self._client.request("GET", f"{API}/users/{segment(user_id)}", cache=True),
        )

    def batch_read(self, ids: Iterable[str]) -> list[UserPublicOut]:
        """The public views of the users with these ids (unknown ids are left out), in
        lookups of at most 100 ids, each revalidated with its ETag (If-None-Match, 304)."""
        wanted = list(dict.fromkeys(str(value) for value in ids))
        users: list[UserPublicOut] = []
        for start in range(0, len(wanted), MAX_BATCH_IDS):
            chunk = ",".join(wanted[start : start + MAX_BATCH_IDS])
            page = self._client.request("GET", f"{API}/users", params={"ids": chunk}, cache=True)
            users.extend(page["results"])
        return users

    def by_username(self, username: str) -> UserPublicOut | None:
        """The user with this exact username (case-insensitive), or None."""
        page = self._client.request("GET", f"{API}/users", params={"username": username})
        results = page["results"]
        return cast(UserPublicOut, results[0]) if results else None

    def by_email(self, email: str) -> UserPrivateOut | None:
        """The user with this email (RPC `read`): needs `users:write`, unless it is the
        caller's own address; None when there is none."""
        try:
            return cast(UserPrivateOut, self._client.rpc.call("user", "read", email=email)["user"])
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def create(
        self,
        username: str,
        *,
        email: str | None = None,
        password: str | None = None,
        display_name: str | None = None,
        kind: str | None = None,
    ) -> UserPrivateOut:
        fields = {
            "username": username,
            "email": email,
            "password": password,
            "display_name": display_name,
            "kind": kind,
        }
        body = {name: value for name, value in fields.items() if value is not None}
        return cast(UserPrivateOut, self._client.request("POST", f"{API}/users", json=body))

    def update(self, user_id: str, **fields: Any) -> UserPrivateOut:
        """PATCH: `display_name`, `email`, `avatar_url`; with `users:write` also `username`
        and `is_active`."""
        path = f"{API}/users/{segment(user_id)}"
        return cast(UserPrivateOut, self._client.request("PATCH", path, json=fields))

    def delete(self, user_id: str) -> None:
        """Deactivates the account (its sign-ins and tokens end)."""
        self._client.request("DELETE", f"{API}/users/{segment(user_id)}")

    def list(self, *, page_size: int | None = None) -> Iterator[UserPrivateOut]:
        """Every user (needs `users:write`), page after page."""
        return self._client.paginate(f"{API}/users", {"page_size": page_size})


class Groups(Resource):
    def list(self, *, page_size: int | None = None) -> Iterator[GroupOut]:
        return self._client.paginate(f"{API}/groups", {"page_size": page_size})

    def create(self, name: str, *, scopes: Iterable[str] = ()) -> GroupOut:
        body = {"name": name, "scopes": list(scopes)}
        return cast(GroupOut, self._client.request("POST", f"{API}/groups", json=body))

    def add_member(self, group_id: str, user_id: str, *, role: str | None = None) -> MemberOut:
        body = {"user_id": user_id} if role is None else {"user_id": user_id, "role": role}
        path = f"{API}/groups/{segment(group_id)}/members"
        return cast(MemberOut, self._client.request("POST", path, json=body))

    def remove_member(self, group_id: str, user_id: str) -> None:
        path = f"{API}/groups/{segment(group_id)}/members/{segment(user_id)}"
        self._client.request("DELETE", path)

    def roles(self, group_id: str) -> Iterator[RoleOut]:
        return self._client.paginate(f"{API}/groups/{segment(group_id)}/roles")

    def assign_role(self, group_id: str, role_id: str) -> RoleOut:
        path = f"{API}/groups/{segment(group_id)}/roles"
        return cast(RoleOut, self._client.request("POST", path, json={"role_id": role_id}))

    def remove_role(self, group_id: str, role_id: str) -> None:
        path = f"{API}/groups/{segment(group_id)}/roles/{segment(role_id)}"
        self._client.request("DELETE", path)


class ApiKeys(Resource):
    def mint(
        self,
        name: str,
        scopes: Iterable[str],
        *,
        expires_in_days: int | None = None,
        resource: str | None = None,
    ) -> MintedKeyOut:
        """A new key for the caller; its secret (`key`) is in this answer only."""
        body: dict[str, Any] = {"name": name, "scopes": list(scopes)}
        if expires_in_days is not None:
            body["expires_in_days"] = expires_in_days
        if resource is not None:
            body["resource"] = resource
        return cast(MintedKeyOut, self._client.request("POST", f"{API}/api-keys", json=body))

    def rotate(self, key_id: str, *, grace_hours: int) -> MintedKeyOut:
        """A successor key; the old one keeps working for `grace_hours`."""
        path = f"{API}/api-keys/{segment(key_id)}/rotate"
        body = {"grace_hours": grace_hours}
        return cast(MintedKeyOut, self._client.request("POST", path, json=body))

    def revoke(self, key_id: str) -> None:
        """Revokes the key and the tokens exchanged for it, at once."""
        self._client.request("DELETE", f"{API}/api-keys/{segment(key_id)}")

    def list(self, *, user_id: str | None = None) -> Iterator[ApiKeyOut]:
        """The caller's keys (no secrets); another user's with `users:write`."""
        return self._client.paginate(f"{API}/api-keys", {"user_id": user_id})


class Access(Resource):
    def grant(
        self,
        *,
        object_type: str,
        object_id: str,
        subject_type: SubjectType,
        subject_id: str,
        read: bool = True,
        write: bool = False,
        admin: bool = False,
    ) -> GrantOut:
        body = {
            "object_type": object_type,
            "object_id": object_id,
            "subject_type": subject_type,
            "subject_id": subject_id,
            "read": read,
            "write": write,
            "admin": admin,
        }
        return cast(GrantOut, self._client.request("POST", f"{API}/access", json=body))

    def revoke(self, grant_id: str) -> None:
        self._client.request("DELETE", f"{API}/access/{segment(grant_id)}")

    def check(
        self,
        *,
        object_type: str,
        object_id: str,
        permission: Permission,
        subject_id: str | None = None,
    ) -> bool:
        """Whether the subject (the caller when None) holds `permission` on the object."""
        body = {"object_type": object_type, "object_id": object_id, "permission": permission}
        if subject_id is not None:
            body["subject_id"] = subject_id
        answer = self._client.request("POST", f"{API}/access/check", json=body)
        return answer["allowed"] is True

    def list(self, **filters: str | None) -> Iterator[GrantOut]:
        """Grants, filtered by `object_type`, `object_id`, `subject_type`, `subject_id`."""
        return self._client.paginate(f"{API}/access", filters)


class Objects(Resource):
    def list(self, *, page_size: int | None = None) -> Iterator[ObjectOut]:
        return self._client.paginate(f"{API}/objects", {"page_size": page_size})

    def create(self, name: str, value: Any = None) -> ObjectOut:
        body = {"name": name, "value": value}
        return cast(ObjectOut, self._client.request("POST", f"{API}/objects", json=body))

    def get(self, object_id: str) -> ObjectOut:
        return cast(ObjectOut, self._client.request("GET", f"{API}/objects/{segment(object_id)}"))

    def update(self, object_id: str, **fields: Any) -> ObjectOut:
        """PATCH: `name`, `value`, and `version` to refuse a stale write (409)."""
        path = f"{API}/objects/{segment(object_id)}"
        return cast(ObjectOut, self._client.request("PATCH", path, json=fields))

    def delete(self, object_id: str) -> None:
        self._client.request("DELETE", f"{API}/objects/{segment(object_id)}")


class Audit(Resource):
    def events(
        self,
        *,
        actor_id: str | None = None,
        type: str | None = None,
        since: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[AuditEventOut]:
        """Audit events, newest first (needs `api_admin`)."""
        params = {"actor_id": actor_id, "type": type, "since": since, "page_size": page_size}
        return self._client.paginate(f"{API}/audit-events", params)


class Rpc:
    """The Micro-style RPC facade: `client.rpc.user.read(id=...)` posts `{"id": ...}` to
    /user/read and returns the answer's JSON object. Python names map to the method names in
    camel case (`read_session` -> `readSession`); the server reads them case-insensitively."""

    def __init__(self, client: MicroClient) -> None:
        self._client = client

    def __getattr__(self, service: str) -> RpcService:
        if service.startswith("_"):
            raise AttributeError(service)
        return RpcService(self, service)

    def call(self, service: str, method: str, **body: Any) -> dict[str, Any]:
        for name in (service, method):
            if not RPC_NAME.match(name):
                raise ValueError(f"not an RPC service or method name: {name!r}")
        answer = self._client.request("POST", f"/{service}/{method}", json=body)
        return answer if isinstance(answer, dict) else {}


class RpcService:
    def __init__(self, rpc: Rpc, service: str) -> None:
        self._rpc = rpc
        self._service = service

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)
        first, *rest = method.split("_")
        name = first + "".join(part.capitalize() for part in rest)

        def call(**body: Any) -> dict[str, Any]:
            return self._rpc.call(self._service, name, **body)

        return call
