"""The RPC facade's operations in the OpenAPI schema: the credential is optional (some methods
are anonymous), and every method in the table is listed."""

from __future__ import annotations

from typing import Any

from django.test import Client

from rpc.apis import RPC_METHODS


def rpc_operations(db: Any) -> list[dict[str, Any]]:
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    item = schema["paths"]["/user/{method}"]
    return [item["get"], item["post"]]


def test_a_credential_is_optional_and_every_kind_is_listed(db: Any) -> None:
    for operation in rpc_operations(db):
        assert {} in operation["security"]
        assert {"bearerAuth": []} in operation["security"]


def test_the_method_parameter_lists_the_table(db: Any) -> None:
    for operation in rpc_operations(db):
        (parameter,) = [p for p in operation["parameters"] if p["name"] == "method"]
        assert parameter["schema"]["enum"] == sorted(RPC_METHODS)
