"""Platform conventions: problem details, body limits, health, OpenAPI, headers, the repository's
own text and how test modules share helpers."""

from __future__ import annotations

import ast
import base64
import io
import os
import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from micro_platform.identity import Principal
from tests.conftest import token_for

PROBLEM_TYPE = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code"}
TWO_MB = b"{" + b" " * (2 * 1024 * 1024) + b"}"
HTTP_METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].split(";")[0] == PROBLEM_TYPE
    body = response.json()
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"].endswith(body["code"])
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


# --- Problem details ----------------------------------------------------------------------


def test_field_errors_are_a_400_problem_with_errors(anon_client, db):
    response = anon_client.post("/api/v1/auth/token", {})

    body = assert_problem(response, 400)
    assert set(body["errors"]) == {"username", "password"}
    assert all(isinstance(messages, list) for messages in body["errors"].values())


def test_unknown_write_field_is_a_400_problem_naming_it(admin_client):
    response = admin_client.post("/api/v1/users", {"username": "u1", "is_superuser": True})

    body = assert_problem(response, 400)
    assert body["code"] == "unknown_field"
    assert "is_superuser" in body["errors"]


def test_missing_credential_is_a_401_problem_with_bearer_challenge(anon_client, db):
    response = anon_client.get("/api/v1/me")

    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_invalid_token_is_a_401_problem_with_bearer_challenge(anon_client, db):
    anon_client.credentials(HTTP_AUTHORIZATION="Bearer eyJhbGciOi.garbage.token")

    response = anon_client.get("/api/v1/me")

    assert_problem(response, 401)
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_missing_scope_is_a_403_problem(user_client):
    response = user_client.get("/api/v1/users")

    body = assert_problem(response, 403)
    assert body["code"] == "insufficient_scope"


def test_unknown_resource_is_a_404_problem(user_client):
    response = user_client.get(f"/api/v1/users/{uuid.uuid4()}")

    assert_problem(response, 404)


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/users/a/b/c", "/api/v1/", "/user/"])
def test_unknown_url_under_the_api_is_a_404_problem(anon_client, path, db):
    response = anon_client.get(path)

    body = assert_problem(response, 404)
    assert body["code"] == "not_found"


def test_unsupported_method_is_a_405_problem(user_client):
    response = user_client.put("/api/v1/me", {})

    body = assert_problem(response, 405)
    assert body["code"] == "method_not_allowed"


def test_unsupported_media_type_is_a_415_problem(admin_client):
    response = admin_client.post(
        "/api/v1/users", "username=x", content_type="application/x-www-form-urlencoded"
    )

    assert_problem(response, 415)


# --- Bodies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/users"),
        ("PATCH", "/api/v1/users/00000000-0000-0000-0000-000000000000"),
        ("POST", "/api/v1/me/password"),
        ("POST", "/api/v1/groups"),
        ("POST", "/user/create"),
    ],
)
def test_two_megabyte_body_is_a_413_problem(anon_client, admin_user, method, path):
    response = anon_client.generic(
        method,
        path,
        TWO_MB,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}",
    )

    body = assert_problem(response, 413)
    assert body["code"] == "payload_too_large"


def test_body_just_under_one_mebibyte_is_parsed(admin_client):
    padding = " " * (1024 * 1024 - 100)
    raw = '{"username": "padded"' + padding + "}"

    response = admin_client.generic("POST", "/api/v1/users", raw, content_type="application/json")

    assert response.status_code == 201


def test_invalid_content_length_is_a_400_problem(anon_client, db):
    response = anon_client.generic(
        "POST", "/api/v1/auth/token", b"{}", content_type="application/json", CONTENT_LENGTH="x"
    )

    assert_problem(response, 400)


@pytest.mark.parametrize("raw", ["[]", '["username"]', "42", '"text"', "null"])
def test_json_body_that_is_not_an_object_is_a_400_problem(anon_client, raw, db):
    response = anon_client.generic(
        "POST", "/api/v1/auth/token", raw, content_type="application/json"
    )

    assert_problem(response, 400)


def test_malformed_json_is_a_400_problem(anon_client, db):
    response = anon_client.generic(
        "POST", "/api/v1/auth/token", "{nope", content_type="application/json"
    )

    body = assert_problem(response, 400)
    assert body["code"] == "parse_error"


@pytest.mark.parametrize("path", ["/api/v1/auth/token", "/api/v1/users", "/user/read"])
def test_deeply_nested_json_is_a_400_problem_not_a_crash(anon_client, admin_user, path):
    response = anon_client.generic(
        "POST",
        path,
        "[" * 100_000,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}",
    )

    assert_problem(response, 400)


@pytest.mark.parametrize(
    ("method", "path", "raw"),
    [
        ("POST", "/api/v1/auth/token", '{"username": "\\ud800", "password": "x"}'),
        ("POST", "/api/v1/groups", '{"name": "\\udc00"}'),
        ("POST", "/api/v1/users", '{"username": "u", "email": "u@example.com", "\\ud800": 1}'),
        ("POST", "/user/update", '{"displayName": "\\ud800"}'),
        ("POST", "/user/read", '{"username": "\\ud800"}'),
    ],
)
def test_a_lone_surrogate_in_json_is_a_400_problem(anon_client, admin_user, method, path, raw):
    """A string that is not Unicode text (half a surrogate pair) is refused by every JSON
    entry point, the DRF parser and the RPC facade alike, before any view sees it."""
    response = anon_client.generic(
        method,
        path,
        raw,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token_for(admin_user)}",
    )

    body = assert_problem(response, 400)
    assert body["code"] == "parse_error", body


# --- Health -------------------------------------------------------------------------------


def test_healthz_is_200(anon_client):
    response = anon_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_is_200_with_database_and_cache_checks(anon_client, db):
    response = anon_client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database:default"] == "ok"
    assert body["checks"]["cache"] == "ok"


def test_health_probes_are_not_cached(anon_client, db):
    for path in ["/healthz", "/readyz"]:
        assert "no-cache" in anon_client.get(path)["Cache-Control"]


# --- OpenAPI ------------------------------------------------------------------------------


def test_schema_is_served(anon_client, db):
    response = anon_client.get("/api/schema/")

    assert response.status_code == 200
    assert b"openapi:" in response.content
    assert b"/api/v1/users" in response.content


def test_docs_page_uses_no_external_urls(anon_client, db):
    response = anon_client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    # Every absolute URL in the page (scripts, styles, fonts) would be a third-party fetch.
    assert re.findall(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, flags=re.IGNORECASE) == []
    assert "/static/drf_spectacular_sidecar/" in html


def test_schema_generation_is_valid_and_has_no_warnings(tmp_path, db):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    assert target.read_text().startswith("openapi:")


@pytest.fixture(scope="module")
def api_operations() -> list[tuple[str, str, dict]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        if path.startswith("/api/v1")
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def test_schema_documents_the_api_operations(api_operations):
    documented = {(path, method) for path, method, _ in api_operations}

    assert ("/api/v1/me", "get") in documented
    assert ("/api/v1/users/{user_id}", "patch") in documented
    assert ("/api/v1/auth/token", "post") in documented


def test_every_api_operation_documents_its_scopes_or_authentication(api_operations):
    undocumented = [
        f"{method.upper()} {path}"
        for path, method, operation in api_operations
        if "Required scopes" not in operation.get("description", "")
        and "Authentication:" not in operation.get("description", "")
    ]

    assert undocumented == []


def test_every_protected_api_operation_documents_401_and_403(api_operations):
    for path, method, operation in api_operations:
        if "Required scopes" in operation.get("description", ""):
            assert {"401", "403"} <= set(operation["responses"]), f"{method} {path}"


# --- Permissions fail loudly --------------------------------------------------------------


class ForgotScopesApi(APIView):
    def get(self, request):
        return Response({"reached": True})


class ForgotPostScopesApi(APIView):
    required_scopes = {"GET": ()}

    def get(self, request):
        return Response({})

    def post(self, request):
        return Response({"reached": True})


def a_principal(scopes: frozenset[str] = frozenset({"api_admin"})) -> Principal:
    """A principal; it stands in for `request.user` (hence the ignores on force_authenticate)."""
    return Principal(
        user_id=uuid.uuid4(),
        username="someone",
        kind="user",
        group_ids=(),
        scopes=scopes,
        method="jwt",
    )


def test_scope_permission_raises_for_a_view_without_required_scopes():
    request = APIRequestFactory().get("/anything")
    force_authenticate(request, user=a_principal())  # type: ignore[arg-type]

    with pytest.raises(ImproperlyConfigured, match="required_scopes"):
        ForgotScopesApi.as_view()(request)


def test_scope_permission_raises_for_an_anonymous_call_to_a_view_without_scopes():
    request = APIRequestFactory().get("/anything")

    with pytest.raises(ImproperlyConfigured):
        ForgotScopesApi.as_view(authentication_classes=[])(request)


def test_scope_permission_raises_for_a_handler_missing_from_the_scope_map():
    request = APIRequestFactory().post("/anything", {}, format="json")
    force_authenticate(request, user=a_principal())  # type: ignore[arg-type]

    with pytest.raises(ImproperlyConfigured, match="POST"):
        ForgotPostScopesApi.as_view()(request)


# --- Migrations and headers ---------------------------------------------------------------


def test_models_and_migrations_agree(db):
    out = io.StringIO()

    call_command("makemigrations", "--check", "--dry-run", stdout=out)

    assert "No changes detected" in out.getvalue()


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/me", "/api/docs/"])
def test_security_headers_are_sent(anon_client, path, db):
    response = anon_client.get(path)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"


def test_api_responses_isolate_the_browsing_context(user_client):
    # /api/docs/ relaxes COOP on purpose (drf-spectacular's Swagger OAuth popup); the API does not.
    assert user_client.get("/api/v1/me")["Cross-Origin-Opener-Policy"] == "same-origin"


# --- Hostile input is a 4xx, never a 5xx --------------------------------------------------


def forged_cursor(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


@pytest.mark.parametrize(
    "raw",
    ["p=garbage", "p=2020-01-01", "p=2020-13-45T00:00:00+00:00", "r=1&p=xx", "p=a\x00b"],
)
@pytest.mark.parametrize("path", ["/api/v1/users", "/api/v1/groups"])
def test_forged_cursor_position_is_a_404_problem(admin_client, path, raw):
    response = admin_client.get(path, {"cursor": forged_cursor(raw)})

    body = assert_problem(response, 404)
    assert body["code"] == "invalid_cursor"


@pytest.mark.parametrize(
    ("path", "params"),
    [("/api/v1/users", {"username": "a\x00b"}), ("/api/v1/users", {"ids": "a\x00b"})],
)
def test_nul_character_in_a_lookup_finds_nothing(user_client, path, params):
    response = user_client.get(path, params)

    assert response.status_code == 200
    assert response.json() == {"results": []}


# --- The repository's own text -------------------------------------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
# Not the project's text: environments, runtime data, caches, other people's packages.
UNREAD_DIRS = {".git", ".venv", "venv", "var", "node_modules", "__pycache__", ".mypy_cache"}
UNREAD_DIRS |= {".pytest_cache", ".ruff_cache", "build", "dist"}
READ_SUFFIXES = {".py", ".md", ".html", ".txt", ".toml", ".yaml", ".yml"}
# A section sign belongs to a public standard written just before it.
PUBLIC_STANDARD = re.compile(r"\b(?:RFC \d+|SP 800-\d+[A-Z]?|ASVS [\d.]+)\s?$")
# Internal requirement documents, named or numbered, that a reader of the repository cannot open.
INTERNAL_DOCUMENTS = ("SECURITY", "PRODUCT", "PERFORMANCE", "STYLE", "LIBRARIES")
NUMBERED_REQUIREMENT = re.compile(
    r"\b(?:" + "|".join(INTERNAL_DOCUMENTS) + r")(?:\.md)?\s+(?:\u00a7|\d|cases?\b)"
    r"|\bspec(?:'s)?\s+(?:\u00a7|P\d)"
    r"|\bprinciple \d"
)
DOCUMENT_NAME = re.compile(r"\b(?:" + "|".join(INTERNAL_DOCUMENTS) + r")\.md\b")


def repository_text_files() -> Iterator[Path]:
    for directory, subdirectories, files in os.walk(REPO_ROOT):
        subdirectories[:] = [name for name in subdirectories if name not in UNREAD_DIRS]
        for name in files:
            if Path(name).suffix in READ_SUFFIXES or name == "Makefile":
                yield Path(directory) / name


def uncitable_references(line: str) -> list[str]:
    """What in one line points a reader at a requirement they cannot open."""
    found = [match.group() for match in NUMBERED_REQUIREMENT.finditer(line)]
    found += [
        match.group()
        for match in DOCUMENT_NAME.finditer(line)
        if not (REPO_ROOT / match.group()).exists()
    ]
    found += [
        line[max(0, match.start() - 20) : match.end() + 5]
        for match in re.finditer("\u00a7", line)
        if not PUBLIC_STANDARD.search(line[: match.start()])
    ]
    return found


@pytest.mark.parametrize(
    ("line", "cited"),
    [
        ("Re-intersected with what the owner holds now (spec \u00a73).", True),
        ("Unknown fields are refused (\u00a74: unknown -> 400).", True),
        ("docs/downstream.md \u00a75 says so.", True),
        ('"""SECURITY 17: the same answer for an unknown name."""', True),
        ("and SECURITY cases 25-27", True),
        ("MFA endpoints (PRODUCT \u00a74.5)", True),
        ("see PRODUCT.md", True),
        ("the batch lookup's hot path (spec P4)", True),
        ("(spec \u00a71 principle 6)", True),
        ("A re-used code revokes what it issued (RFC 6749 \u00a74.1.2).", False),
        ("Only services may ask (RFC 7662 \u00a74).", False),
        ("SECURE_SSL_REDIRECT and the security headers", False),
        ("the XDG spec: a relative path is invalid", False),
    ],
)
def test_a_citation_of_an_internal_requirement_is_recognised(line: str, cited: bool) -> None:
    assert bool(uncitable_references(line)) is cited


def test_no_file_cites_a_requirement_a_reader_cannot_open() -> None:
    """Comments, docstrings, docs and templates say the rule in words or link a page under
    docs/; a public standard (an RFC section) may be cited, an internal requirement number not."""
    offending = [
        f"{path.relative_to(REPO_ROOT)}:{number}: {', '.join(references)}"
        for path in repository_text_files()
        if path != Path(__file__).resolve()  # its examples above cite on purpose
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1)
        if (references := uncitable_references(line))
    ]
    assert not offending, "\n".join(offending)


# --- Test modules share helpers through helper modules --------------------------------------

TESTS_ROOT = REPO_ROOT / "tests"


def is_test_module(dotted: str) -> bool:
    return any(part.startswith("test_") for part in dotted.split("."))


def imported_test_modules(source: str) -> list[str]:
    """The test modules (`test_*`) a module of the tests package imports from. Shared helpers
    live in helper modules: importing from a test module ties the importer to a file of tests
    it does not own (moving, renaming or splitting that file breaks it), and a `test_*` name
    imported into a test module is collected there a second time."""
    imported = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported += [
                alias.name
                for alias in node.names
                if alias.name.split(".")[0] == "tests" and is_test_module(alias.name)
            ]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level == 0 and module.split(".")[0] != "tests":
                continue
            where = "." * node.level + module
            if is_test_module(module):
                imported.append(where)
            else:
                separator = "." if module else ""
                imported += [
                    f"{where}{separator}{alias.name}"
                    for alias in node.names
                    if alias.name.startswith("test_")
                ]
    return imported


@pytest.mark.parametrize(
    ("source", "imported"),
    [
        ("from tests.authn.api_keys.test_api import mint", ["tests.authn.api_keys.test_api"]),
        ("from tests.authn.api_keys.helpers import mint", []),
        ("import tests.platform.test_metrics", ["tests.platform.test_metrics"]),
        ("import tests.platform.helpers", []),
        ("from tests.platform import test_metrics", ["tests.platform.test_metrics"]),
        ("from tests.platform import helpers", []),
        ("from .test_api import mint", [".test_api"]),
        ("from . import test_api", [".test_api"]),
        ("from .helpers import mint", []),
        ("from tests.conftest import token_for", []),
        ("from django.test import Client", []),
        ("def f():\n    from tests.accounts.test_signup import x", ["tests.accounts.test_signup"]),
    ],
)
def test_an_import_of_a_test_module_is_recognised(source: str, imported: list[str]) -> None:
    assert imported_test_modules(source) == imported


def test_no_test_module_imports_from_another_test_module() -> None:
    offending = [
        f"{path.relative_to(REPO_ROOT)}: {name}"
        for path in sorted(TESTS_ROOT.rglob("*.py"))
        for name in imported_test_modules(path.read_text())
    ]
    assert not offending, "move the shared helpers into a helper module:\n" + "\n".join(offending)
