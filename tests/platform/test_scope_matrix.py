"""Deny by default, proven for every operation: generated from the OpenAPI schema and the RPC
method table, each operation is called with a valid credential holding none of the scopes it
declares, and must answer 401 or 403 (a password sign-in: 403 insufficient_scope, so the scope
check is what refused it); holding exactly the declared scopes it must get past the scope check;
without a credential it must answer 401.

An operation that declares no scope must be on PUBLIC_OPERATIONS with its reason; a URL under
/api/v1/ or /user/ must be in the schema or on UNDOCUMENTED_ROUTES. A new endpoint without
scopes, or an undocumented one, fails here until someone decides what it needs.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from types import SimpleNamespace
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import Membership, User
from accounts.principals import principal_for_user
from authn.api_keys.services import api_key_create
from micro_platform import scopes as sc
from micro_platform.identity import Principal
from micro_platform.scope_checks import (
    AnyScope,
    HasRequiredScopes,
    Requirement,
    admits_anonymous,
    declared_scopes,
    required_scopes_for,
)
from objects.services import object_create
from permissions.models import Grant
from rpc.apis import RPC_METHODS
from tests.conftest import token_for
from tests.factories import MembershipFactory, UserFactory

PROBLEM = "application/problem+json"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

# Operations that declare no scope, each with the reason it may. Keys are "METHOD /path" as in
# the schema. A scopeless operation missing here fails the suite; so does a stale entry.
PUBLIC_OPERATIONS: dict[str, str] = {
    "GET /.well-known/jwks.json": "public signing keys: verifiers fetch them anonymously",
    "GET /o/.well-known/jwks.json": "the same keys at the OAuth provider's path",
    "POST /api/v1/signup": "anonymous sign-up, off unless MICRO_SIGNUP_OPEN; throttled",
    "POST /api/v1/auth/token": "the password grant: the password is the credential",
    "POST /api/v1/auth/token/refresh": "the refresh token in the body is the credential",
    "POST /api/v1/auth/token/revoke": "revoking a token needs only the token (RFC 7009)",
    "POST /api/v1/auth/token/exchange": (
        "an API key (and nothing else) becomes a token with exactly the key's scopes"
    ),
    # Forward auth: any valid credential, the route's own needs come as `?scope=`.
    **{
        f"{method} /api/v1/auth/verify": "gateway forward auth: any credential, plus ?scope="
        for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
    },
    "POST /api/v1/access/check": (
        "asks about the caller's own access by default; another subject needs api_admin"
    ),
    # The registry names permissions, not data: services read it to learn what to check, and
    # discovery already publishes the scope names.
    "GET /api/v1/services": "the registry: any authenticated caller reads the services",
    "GET /api/v1/services/{service_id}": "the registry: any authenticated caller reads one",
    "GET /api/v1/scopes": "the registry: any authenticated caller reads every scope",
    # The RPC facade checks each method's scopes from RPC_METHODS (the RPC matrix below).
    **{
        f"{method} /user/{name}": "dispatches to RPC_METHODS, which declares its scopes"
        for name in RPC_METHODS
        for method in ("GET", "POST")
    },
}

# RPC methods any caller may use: the body carries the credential or nothing is disclosed.
ANONYMOUS_RPC_METHODS: dict[str, str] = {
    "login": "the password (and otp) in the body is the credential; locked out like sign-in",
    "logout": "the session id in the body is the credential",
    "readsession": "the session id in the body is the credential",
    "verifytoken": "the session id in the body is the credential",
    "sendverificationemail": "answers alike for any address; throttled",
    "verifyemail": "the emailed token is the credential",
    "sendpasswordresetemail": "answers alike for any address; throttled",
    "resetpassword": "the emailed token is the credential",
}

# Routes under /api/v1/ or /user/ that are deliberately not in the OpenAPI schema.
UNDOCUMENTED_ROUTES: dict[str, str] = {
    "user/{method}": "a method name in any letter case; each method is documented at its own path",
}


@cache
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def operations() -> list[tuple[str, str]]:
    """Every (METHOD, path) of the schema but the OAuth endpoints (django-oauth-toolkit's
    views, which authenticate clients their own way: tests/authn/oauth)."""
    return sorted(
        (method.upper(), path)
        for path, item in schema()["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS and "oauth" not in operation.get("tags", [])
    )


def concrete(path: str, ids: dict[str, str] | None = None) -> str:
    """`path` with each `{param}` filled from `ids`, or a random id (a method name for RPC, a
    number for a passkey)."""
    values = {"method": "read", "passkey_id": "1", **(ids or {})}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m[1], str(uuid.uuid4())), path)


def view_of(method: str, path: str) -> Any:
    match = resolve(concrete(path))
    view = match.func.cls(**match.func.view_initkwargs)  # type: ignore[attr-defined]
    view.kwargs = match.kwargs
    return view


def requirement_of(method: str, path: str) -> Requirement | None:
    """The scopes the operation declares; None when it declares none (public or `()`)."""
    view = view_of(method, path)
    if any(admits_anonymous(permission) for permission in view.get_permissions()):
        return None
    requirement = required_scopes_for(view, method)
    return requirement if requirement and declared_scopes(requirement) else None


def scoped_operations() -> list[tuple[str, str]]:
    return [op for op in operations() if requirement_of(*op) is not None]


def scoped_operation_params() -> list[Any]:
    return [
        pytest.param(method, path, id=f"{method} {path}") for method, path in scoped_operations()
    ]


def without(requirement: Requirement | None) -> frozenset[str]:
    """Every catalogue scope except the declared ones and `api_admin` (which implies all)."""
    named = declared_scopes(requirement) if requirement is not None else ()
    return frozenset(sc.BUILT_IN_SCOPES) - set(named) - {sc.API_ADMIN}


# --- The lists stay exact -------------------------------------------------------------------


def test_every_operation_without_scopes_is_on_the_public_list():
    scopeless = {
        f"{method} {path}" for method, path in operations() if not requirement_of(method, path)
    }

    assert sorted(scopeless - set(PUBLIC_OPERATIONS)) == [], "declare scopes or list it"
    assert sorted(set(PUBLIC_OPERATIONS) - scopeless) == [], "stale entry: remove it"


def test_every_rpc_method_declares_scopes_or_is_on_the_anonymous_list():
    anonymous = {name for name, entry in RPC_METHODS.items() if entry.required_scopes is None}

    assert anonymous == set(ANONYMOUS_RPC_METHODS)
    for name, entry in RPC_METHODS.items():
        if entry.required_scopes is not None:
            assert declared_scopes(entry.required_scopes), f"{name}: empty scopes"


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, route)
        elif isinstance(entry, URLPattern):
            yield route


def test_every_api_route_is_in_the_schema_or_deliberately_left_out():
    documented = {path.lstrip("/") for path in schema()["paths"]}
    routes = {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
        for route in _routes(get_resolver().url_patterns)
        if route.startswith(("api/v1/", "user/"))
    }

    assert sorted(routes - documented - set(UNDOCUMENTED_ROUTES)) == []
    assert sorted(set(UNDOCUMENTED_ROUTES) - routes) == []


def test_the_matrix_covers_the_sensitive_operations():
    scoped = {f"{method} {path}" for method, path in scoped_operations()}

    assert {
        "GET /api/v1/me",
        "GET /api/v1/groups",
        "POST /api/v1/groups/{group_id}/members",
        "DELETE /api/v1/groups/{group_id}/members/{user_id}",
        "POST /api/v1/auth/logout-all",
        "POST /api/v1/api-keys",
    } <= scoped


# --- Every scoped operation refuses a credential without its scopes -------------------------


@dataclass
class World:
    """The caller (a person holding every scope but `api_admin`) and real rows to aim at."""

    caller: User
    admin: User
    ids: dict[str, str]


@pytest.fixture
def world(db: Any) -> World:
    caller = UserFactory.create()
    # users:write comes from a group the caller administers: every scope but api_admin held.
    group = MembershipFactory.create(
        user=caller, role=Membership.Role.ADMIN, group__scopes=[sc.USERS_WRITE]
    ).group
    member = MembershipFactory.create(group=group).user
    key = api_key_create(owner=caller, name="k", scopes=[sc.PROFILE], actor=None)
    owner = principal_for_user(caller, method="jwt", amr=("pwd",))
    obj = object_create(actor=owner, name="doc", value={"n": 1})
    grant = Grant.objects.filter(object_id=str(obj.pk)).first()
    assert grant is not None
    ids = {
        "user_id": str(member.pk),
        "group_id": str(group.pk),
        "key_id": str(key.api_key.pk),
        "object_id": str(obj.pk),
        "grant_id": str(grant.pk),
    }
    admin = MembershipFactory.create(group__scopes=[sc.API_ADMIN]).user
    return World(caller=caller, admin=admin, ids=ids)


def jwt_client(user: User, scopes: frozenset[str]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_for(user, scopes)}")
    return client


def key_client(user: User, scopes: frozenset[str]) -> APIClient:
    key = api_key_create(owner=user, name="matrix", scopes=sorted(scopes), actor=None).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


CREDENTIALS: dict[str, Callable[[User, frozenset[str]], APIClient]] = {
    "password_jwt": jwt_client,
    "api_key": key_client,
}


def assert_valid(client: APIClient) -> None:
    """The credential itself is good: the gateway check (any principal) accepts it."""
    assert client.get("/api/v1/auth/verify").status_code == 200


def assert_denied(response: Any, where: str) -> None:
    assert response.status_code in (401, 403), (
        f"{where}: {response.status_code} {response.content!r}"
    )
    assert response["Content-Type"] == PROBLEM, where


def call(client: APIClient, method: str, path: str, world: World) -> Any:
    return client.generic(
        method, concrete(path, world.ids), data="{}", content_type="application/json"
    )


@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
@pytest.mark.parametrize(("method", "path"), scoped_operation_params())
def test_an_operation_refuses_a_credential_without_its_scopes(world, credential, method, path):
    held = without(requirement_of(method, path))
    client = CREDENTIALS[credential](world.caller, held)
    assert_valid(client)

    response = call(client, method, path, world)

    assert_denied(response, f"{method} {path} with {sorted(held)}")
    if credential == "password_jwt":
        # A person's own sign-in passes every later check's precondition, so only the scope
        # check can have refused it (an API key may meet sign_in_required first on some).
        assert response.status_code == 403, f"{method} {path}: {response.content!r}"
        assert response.json()["code"] == "insufficient_scope", f"{method} {path}"


# Query strings for the positive control, where the declared scope covers only part of an
# operation and the view narrows the rest by scope (the unfiltered user list needs users:write).
CONTROL_QUERIES: dict[str, str] = {"GET /api/v1/users": "?ids={user_id}"}


def holdings(requirement: Requirement) -> list[frozenset[str]]:
    """Scope sets that meet `requirement` exactly: all of a tuple, each alternative of an
    AnyScope alone, and all the alternatives together."""
    if isinstance(requirement, AnyScope):
        return [frozenset({scope}) for scope in requirement.scopes] + [
            frozenset(requirement.scopes)
        ]
    return [frozenset(requirement)]


@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
@pytest.mark.parametrize(("method", "path"), scoped_operation_params())
def test_an_operation_lets_the_declared_scopes_past_the_scope_check(
    world, credential, method, path
):
    requirement = requirement_of(method, path)
    assert requirement is not None
    for held in holdings(requirement):
        # The administrator holds every scope, so the credential carries exactly `held`.
        client = CREDENTIALS[credential](world.admin, held)
        query = CONTROL_QUERIES.get(f"{method} {path}", "")

        response = call(client, method, path + query, world)

        assert response.status_code < 500, f"{method} {path}: {response.content!r}"
        if response.status_code == 403:
            assert response.json()["code"] != "insufficient_scope", (
                f"{method} {path} with exactly {sorted(held)}"
            )


def all_of_with_several_scopes() -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (method, path, requirement)
        for method, path in scoped_operations()
        if isinstance(requirement := requirement_of(method, path), tuple) and len(requirement) > 1
    ]


@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
def test_an_all_of_requirement_refuses_a_credential_missing_any_one_scope(world, credential):
    # Holding all the declared scopes but one must be refused: an all-of requirement checked
    # as any-of would let it through. Empty while no operation requires two scopes at once;
    # the permission class itself is pinned by the test after this one.
    for method, path, requirement in all_of_with_several_scopes():
        for dropped in requirement:
            held = frozenset(requirement) - {dropped}
            client = CREDENTIALS[credential](world.admin, held)

            response = call(client, method, path, world)

            assert_denied(response, f"{method} {path} without {dropped}")
            assert response.json()["code"] == "insufficient_scope"


class _TwoScopesView:
    required_scopes = (sc.USERS_READ, sc.OBJECTS_READ)
    http_method_names = ("get",)

    def get(self) -> None:  # pragma: no cover - never dispatched
        raise AssertionError


@pytest.mark.parametrize(
    ("held", "allowed"),
    [
        (frozenset({sc.USERS_READ, sc.OBJECTS_READ}), True),
        (frozenset({sc.USERS_READ}), False),
        (frozenset({sc.OBJECTS_READ}), False),
        (frozenset(), False),
    ],
)
def test_has_required_scopes_needs_every_scope_of_a_tuple(held, allowed):
    principal = Principal(
        user_id=uuid.uuid4(), username="u", kind="user", group_ids=(), scopes=held, method="jwt"
    )
    request = SimpleNamespace(method="GET", user=principal)

    assert HasRequiredScopes().has_permission(request, _TwoScopesView()) is allowed  # type: ignore[arg-type]


@pytest.mark.parametrize(("method", "path"), scoped_operation_params())
def test_an_operation_refuses_an_anonymous_caller(db, method, path):
    response = APIClient().generic(
        method, concrete(path), data="{}", content_type="application/json"
    )

    assert response.status_code == 401, f"{method} {path}: {response.content!r}"
    assert response["Content-Type"] == PROBLEM


@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
def test_patching_a_user_needs_profile_for_self_or_users_write(world, credential):
    client = CREDENTIALS[credential](world.caller, without(AnyScope(sc.PROFILE, sc.USERS_WRITE)))

    for target in (world.caller.pk, world.ids["user_id"]):
        response = client.patch(f"/api/v1/users/{target}", {"display_name": "x"}, format="json")
        assert_denied(response, f"PATCH /api/v1/users/{target}")


# --- Every RPC method with scopes refuses a credential without them -------------------------


def scoped_rpc_methods() -> list[str]:
    return sorted(name for name, entry in RPC_METHODS.items() if entry.required_scopes)


@pytest.mark.parametrize("http_method", ["GET", "POST"])
@pytest.mark.parametrize("credential", sorted(CREDENTIALS))
@pytest.mark.parametrize("name", scoped_rpc_methods())
def test_an_rpc_method_refuses_a_credential_without_its_scopes(
    world, credential, name, http_method
):
    held = without(RPC_METHODS[name].required_scopes)
    client = CREDENTIALS[credential](world.caller, held)
    assert_valid(client)
    body = f'{{"id": "{world.ids["user_id"]}"}}'

    response = client.generic(
        http_method, f"/user/{name}", data=body, content_type="application/json"
    )

    assert_denied(response, f"{http_method} /user/{name} with {sorted(held)}")
    assert response.json()["code"] == "insufficient_scope"


@pytest.mark.parametrize("name", scoped_rpc_methods())
def test_an_rpc_method_with_scopes_refuses_an_anonymous_caller(db, name):
    response = APIClient().post(f"/user/{name}", {}, format="json")

    assert response.status_code == 401, response.content
