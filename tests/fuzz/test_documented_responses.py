"""The schema and the answers agree: every documented error is a problem document, lists are
documented and served as pages, malformed input is a documented 400, unknown fields are refused.
Each case runs without the fuzzer."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator

PROBLEM = "application/problem+json"
PAGINATED = [
    "/api/v1/audit-events",
    "/api/v1/me/events",
    "/api/v1/api-keys",
    "/api/v1/groups",
    "/api/v1/objects",
    "/api/v1/access",
]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _responses(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method]["responses"]


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    return schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


# --- Error bodies are documented with the content type they are served with ----------------


def test_every_documented_error_body_is_a_problem_document(schema):
    wrong = [
        (path, method, code, sorted(response["content"]))
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        and "responses" in operation
        # The OAuth 2.0 endpoints answer RFC 6749's `{"error": ...}` (and HTML pages) instead.
        and "oauth" not in operation.get("tags", [])
        for code, response in operation["responses"].items()
        if code[:1] in ("4", "5") and list(response.get("content", {PROBLEM: None})) != [PROBLEM]
    ]

    assert wrong == []


def test_a_view_declared_404_is_served_and_documented_as_problem_json(schema, user_client):
    response = user_client.post(
        f"/api/v1/groups/{uuid.uuid4()}/members", {"user_id": str(uuid.uuid4())}, format="json"
    )

    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    documented = _responses(schema, "/api/v1/groups/{group_id}/members", "post")["404"]
    assert list(documented["content"]) == [PROBLEM]


# --- Paginated lists are documented as pages, with their pager parameters -------------------


@pytest.mark.parametrize("path", PAGINATED)
def test_a_paginated_list_is_documented_as_a_page(schema, path):
    body = _responses(schema, path, "get")["200"]["content"]["application/json"]["schema"]
    page = _resolve(schema, body)
    parameters = {p["name"] for p in schema["paths"][path]["get"].get("parameters", [])}

    assert page["type"] == "object"
    assert set(page["properties"]) == {"results", "next"}
    assert {"cursor", "page_size"} <= parameters


@pytest.mark.parametrize("path", ["/api/v1/me/events", "/api/v1/api-keys", "/api/v1/groups"])
def test_a_paginated_list_answers_a_page(admin_client, path):
    body = admin_client.get(path).json()

    assert set(body) == {"results", "next"}


# --- Query parameters: a 400 is documented and malformed page sizes are refused -------------


@pytest.mark.parametrize("path", PAGINATED)
def test_a_list_with_query_parameters_documents_400(schema, path):
    assert "400" in _responses(schema, path, "get")


def test_a_malformed_cursor_is_a_documented_404(admin_client, schema):
    response = admin_client.get("/api/v1/groups", {"cursor": "n"})

    assert response.status_code == 404
    assert response.json()["code"] == "invalid_cursor"
    assert "400" in _responses(schema, "/api/v1/groups", "get")


@pytest.mark.parametrize("value", ["false", "0", "-1", "1.5", "", "²"])
@pytest.mark.parametrize("path", ["/api/v1/audit-events", "/api/v1/objects", "/api/v1/users"])
def test_a_page_size_that_is_not_a_positive_integer_is_a_400(admin_client, path, value):
    response = admin_client.get(path, {"page_size": value})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_page_size"
    assert "page_size" in response.json()["errors"]


@pytest.mark.parametrize("lookup", [{"ids": str(uuid.uuid4())}, {"username": "nobody"}])
def test_a_malformed_page_size_is_a_400_on_user_lookups_too(user_client, lookup):
    response = user_client.get("/api/v1/users", {**lookup, "page_size": "m"})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_page_size"


def test_a_large_page_size_is_still_capped_not_refused(admin_client):
    response = admin_client.get("/api/v1/audit-events", {"page_size": "1000000"})

    assert response.status_code == 200


# --- Undocumented 404s --------------------------------------------------------------------


def test_api_keys_of_an_unknown_user_is_a_documented_404(admin_client, schema):
    response = admin_client.get("/api/v1/api-keys", {"user_id": str(uuid.uuid4())})

    assert response.status_code == 404
    assert "404" in _responses(schema, "/api/v1/api-keys", "get")


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_unknown_rpc_method_is_a_documented_404(user_client, schema, method):
    response = getattr(user_client, method)("/user/noSuchMethod")

    assert response.status_code == 404
    assert response.json()["code"] == "unknown_method"
    # Each method is its own documented path: another name is an unknown path, a 404 problem.
    assert response["Content-Type"] == PROBLEM
    assert {"400", "401", "403", "404"} <= set(_responses(schema, "/user/read", method))


# --- Strings must be strings; unknown fields are documented as refused ----------------------


@pytest.mark.parametrize("token", [12345, 1.5, True, ["x"], {"a": 1}])
def test_token_revoke_refuses_a_token_that_is_not_a_string(anon_client, db, token):
    response = anon_client.post("/api/v1/auth/token/revoke", {"token": token}, format="json")

    assert response.status_code == 400
    assert "token" in response.json()["errors"]


def test_a_number_for_a_text_field_is_refused_across_the_api(admin_client):
    response = admin_client.post("/api/v1/groups", {"name": 42, "scopes": []}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"]["name"] == ["Not a valid string."]


@pytest.mark.parametrize("subject_id", [True, 1, 2**64])
def test_a_number_for_a_uuid_field_is_refused_not_read_as_that_uuid(user_client, subject_id):
    check = {"object_type": "doc", "object_id": "d-1", "permission": "read"}
    response = user_client.post(
        "/api/v1/access/check", {**check, "subject_id": subject_id}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"]["subject_id"] == ["Not a valid string."]


def test_a_string_still_passes_the_text_field_check(anon_client, db):
    response = anon_client.post("/api/v1/auth/token/revoke", {"token": "12345"}, format="json")

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/v1/auth/token/revoke", "post"),
        ("/api/v1/groups", "post"),
        ("/api/v1/me/password", "post"),
        ("/api/v1/objects/{object_id}", "patch"),
    ],
)
def test_request_bodies_document_that_unknown_fields_are_refused(schema, path, method):
    body = schema["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]

    assert _resolve(schema, body)["additionalProperties"] is False


@pytest.mark.parametrize(
    ("audience", "accepted"),
    [("billing", True), ("  https://billing.example/api ", True), ("é-api", True)]
    + [(f"bill{space}ing", False) for space in (" ", "\t", "\x85", "\u2000", "\u3000", "\x01")],
)
def test_the_audience_pattern_states_the_registrys_rule(admin_client, schema, audience, accepted):
    pattern = schema["components"]["schemas"]["ServiceInRequest"]["properties"]["audience"]
    response = admin_client.post(
        "/api/v1/services", {"name": "billing", "audience": audience}, format="json"
    )

    assert (re.search(pattern["pattern"], audience) is not None) is accepted
    assert (response.status_code == 201) is accepted, response.content
