"""The schema states what the server enforces, and what it cannot state is not a 400: each rule
the fuzzer's positive-data check relies on, checked without the fuzzer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from micro_platform.scopes import ANY_SCOPE_NAME_PATTERN
from rpc.apis import RPC_METHODS
from tests.conftest import token_for
from tests.factories import DEFAULT_PASSWORD

BLANK_OR_NUL = ["", " ", "a\x00b"]


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and "responses" in operation
    ]


def _parameter(operation: dict[str, Any], name: str) -> dict[str, Any] | None:
    found = [p for p in operation.get("parameters", []) if p["name"] == name]
    return found[0]["schema"] if found else None


def _request_schemas(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        name: body for name, body in schema["components"]["schemas"].items() if "Request" in name
    }


# --- Pages ------------------------------------------------------------------------------------


def test_every_paged_operation_declares_its_page_parameters_and_the_cursor_404(schema):
    paged = [(p, m, op) for p, m, op in _operations(schema) if _parameter(op, "cursor")]

    assert len(paged) >= 10
    for path, method, operation in paged:
        assert _parameter(operation, "cursor") == {"type": "string", "minLength": 1}, path
        size = _parameter(operation, "page_size")
        assert size == {"type": "integer", "minimum": 1}, path
        assert "404" in operation["responses"], (path, method)
        assert "invalid_cursor" in operation["responses"]["404"]["description"], (path, method)


@pytest.mark.parametrize("page_size", ["0", "-1", "x"])
def test_a_page_size_that_is_not_positive_is_a_400_also_on_user_lookups(user_client, page_size):
    response = user_client.get("/api/v1/users", {"username": "nobody", "page_size": page_size})

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_page_size"


def test_an_empty_cursor_is_a_400_also_on_user_lookups(user_client):
    response = user_client.get("/api/v1/users", {"username": "nobody", "cursor": ""})

    assert response.status_code == 400


def test_a_cursor_this_api_did_not_write_is_a_404(admin_client):
    response = admin_client.get("/api/v1/roles", {"cursor": "forged"})

    assert response.status_code == 404
    assert response.json()["code"] == "invalid_cursor"


# --- Request bodies -----------------------------------------------------------------------------


def test_every_free_text_field_of_a_request_refuses_nul_in_the_schema(schema):
    unstated = [
        (name, field)
        for name, body in _request_schemas(schema).items()
        for field, spec in body.get("properties", {}).items()
        if spec.get("type") == "string" and not ({"format", "enum", "pattern"} & set(spec))
    ]

    assert unstated == []


def test_a_trimmed_text_field_states_that_it_may_not_be_blank(schema):
    pattern = schema["components"]["schemas"]["GroupInRequest"]["properties"]["name"]["pattern"]

    for value in BLANK_OR_NUL:
        assert re.search(pattern, value) is None, value
    assert re.search(pattern, " Editors ") is not None


# Every character Python calls whitespace, and U+FEFF, which ECMA-262's `\s` has and Python's not.
WHITESPACE_AND_LOOKALIKES = [chr(c) for c in range(0x110000) if chr(c).isspace()] + ["\ufeff"]


@pytest.mark.parametrize("flags", [0, re.ASCII], ids=["unicode", "ascii"])
def test_the_not_blank_pattern_agrees_with_drf_in_every_regex_dialect(schema, flags):
    # re.ASCII gives `\s` the meaning it has in Go's RE2: the pattern must not depend on it.
    pattern = schema["components"]["schemas"]["GroupInRequest"]["properties"]["name"]["pattern"]
    field = serializers.CharField()

    for value in [*WHITESPACE_AND_LOOKALIKES, "a", " a "]:
        try:
            field.run_validation(value)
            accepted = True
        except serializers.ValidationError:
            accepted = False
        assert (re.search(pattern, value, flags) is not None) == accepted, hex(ord(value[0]))


def test_no_request_pattern_uses_a_class_escape_whose_meaning_varies_by_dialect(schema):
    varying = re.compile(r"(?<!\\)\\[sSwWdDb]")
    patterns = []

    def collect(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                patterns.append(node["pattern"])
            for value in node.values():
                collect(value)
        elif isinstance(node, list):
            for value in node:
                collect(value)

    collect(schema)

    assert patterns
    assert [p for p in patterns if varying.search(p)] == []


def test_scope_names_in_requests_follow_the_declared_pattern(schema):
    items = schema["components"]["schemas"]["ApiKeyCreateInRequest"]["properties"]["scopes"]

    assert items["minItems"] == 1
    assert items["items"]["pattern"] == ANY_SCOPE_NAME_PATTERN


def test_a_grant_states_that_it_needs_read_write_or_admin(schema):
    grant = schema["components"]["schemas"]["GrantInRequest"]

    assert [alternative["required"] for alternative in grant["anyOf"]] == [
        ["read"],
        ["write"],
        ["admin"],
    ]


def test_removing_totp_documents_the_code_it_reads(schema):
    body = schema["paths"]["/api/v1/me/mfa/totp"]["delete"]["requestBody"]

    assert body["required"] is True
    assert body["content"]["application/json"]["schema"]["$ref"].endswith("/OtpInRequest")


def test_a_display_name_states_the_characters_it_refuses(schema):
    pattern = schema["components"]["schemas"]["UserCreateInRequest"]["properties"]["display_name"][
        "pattern"
    ]

    assert "\\u2028" in pattern
    assert "\\u0000-\\u001f" in pattern


# --- The RPC facade and the OAuth endpoints -----------------------------------------------------


def test_each_rpc_method_is_its_own_operation_with_its_body(schema):
    for name in RPC_METHODS:
        item = schema["paths"][f"/user/{name}"]
        assert item["post"]["operationId"] == f"user_rpc_{name}"
        assert "requestBody" in item["post"], name
        assert item["get"]["deprecated"] is True, name
    assert "/user/{method}" not in schema["paths"]


def test_an_rpc_method_still_answers_under_any_letter_case(user_client, user):
    response = user_client.post("/user/ReAd", {"id": str(user.pk)}, format="json")

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


def test_the_oauth_endpoints_are_documented(schema):
    oauth = {path for path, _, op in _operations(schema) if "oauth" in op.get("tags", [])}

    assert oauth == {
        "/o/authorize/",
        "/o/token/",
        "/o/revoke_token/",
        "/o/introspect/",
        "/o/userinfo/",
        "/o/device-authorization/",
    }
    grants = schema["paths"]["/o/token/"]["post"]["requestBody"]["content"]
    alternatives = grants["application/x-www-form-urlencoded"]["schema"]["oneOf"]
    assert len(alternatives) == 4


# --- What no schema can say is not a 400 ------------------------------------------------------


CLIENT_AUTHENTICATED = [
    ("/o/token/", "token_endpoint_auth_methods_supported"),
    ("/o/revoke_token/", "revocation_endpoint_auth_methods_supported"),
    ("/o/introspect/", "introspection_endpoint_auth_methods_supported"),
]


def _form_bodies(schema: dict[str, Any], operation: dict[str, Any]) -> list[dict[str, Any]]:
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    names = [ref["$ref"].rsplit("/", 1)[1] for ref in form.get("oneOf", [])]
    return [schema["components"]["schemas"][name] for name in names] or [form]


@pytest.mark.parametrize(("path", "advertised"), CLIENT_AUTHENTICATED)
def test_an_oauth_endpoint_states_the_client_authentication_discovery_advertises(
    schema, anon_client, db, path, advertised
):
    methods = set(anon_client.get("/.well-known/openid-configuration").json()[advertised])
    operation = schema["paths"][path]["post"]
    schemes = {name for requirement in operation["security"] for name in requirement}

    assert schemes == ({"oauthClientBasic"} if "client_secret_basic" in methods else set())
    in_the_form = {"client_secret_post", "none"} & methods
    assert ({} in operation["security"]) == bool(in_the_form)
    for body in _form_bodies(schema, operation):
        assert "client_id" in body["properties"]
        assert ("client_secret" in body["properties"]) == ("client_secret_post" in methods)


def test_introspection_documents_the_status_of_a_request_without_a_client(
    schema, anon_client, user
):
    response = anon_client.post("/o/introspect/", {"token": token_for(user)})
    bearer = anon_client.post(
        "/o/introspect/", {"token": token_for(user)}, HTTP_AUTHORIZATION=f"Bearer {token_for(user)}"
    )

    documented = schema["paths"]["/o/introspect/"]["post"]["responses"]
    assert str(response.status_code) in documented
    assert str(bearer.status_code) in documented
    assert set(documented) == {"200", "400", "403"}


def test_a_password_the_policy_refuses_is_a_403(admin_client):
    response = admin_client.post(
        "/api/v1/users", {"username": "newcomer", "password": "password"}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "password_policy"
    assert "password" in response.json()["errors"]


def test_a_wrong_current_password_is_a_403(user_client):
    response = user_client.post(
        "/api/v1/me/password",
        {"old_password": "not it", "new_password": "a long and new passphrase"},
        format="json",
    )

    assert response.status_code == 403
    assert response.json()["code"] == "wrong_password"


def test_a_right_current_password_still_changes_it(user_client):
    response = user_client.post(
        "/api/v1/me/password",
        {"old_password": DEFAULT_PASSWORD, "new_password": "a long and new passphrase"},
        format="json",
    )

    assert response.status_code == 204


def test_a_role_with_a_scope_nobody_registered_is_a_403(admin_client):
    response = admin_client.post(
        "/api/v1/roles", {"name": "auditor", "scopes": ["nobody:reads"]}, format="json"
    )

    assert response.status_code == 403
    assert response.json()["code"] == "invalid_scope"


def test_a_role_with_a_malformed_scope_name_is_a_400(admin_client):
    response = admin_client.post(
        "/api/v1/roles", {"name": "auditor", "scopes": ["Not A Scope"]}, format="json"
    )

    assert response.status_code == 400


def test_an_invalid_emailed_token_is_a_403(anon_client):
    response = anon_client.post("/user/verifyEmail", {"token": "forged"}, format="json")

    assert response.status_code == 403
    assert response.json()["code"] == "invalid_token"
