"""The RPC facade's operations in the OpenAPI schema: the credential is optional (some methods
are anonymous), and every method in the table is listed."""

from __future__ import annotations

from typing import Any

from django.test import Client

from rpc.apis import RPC_METHODS


def rpc_operations(db: Any) -> list[dict[str, Any]]:
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").json()
    items = [schema["paths"][f"/user/{name}"] for name in RPC_METHODS]
    return [operation for item in items for operation in (item["get"], item["post"])]


def test_a_credential_is_optional_and_every_kind_is_listed(db: Any) -> None:
    for operation in rpc_operations(db):
        assert {} in operation["security"]
        assert {"bearerAuth": []} in operation["security"]


def test_each_method_of_the_table_is_an_operation_with_its_body(db: Any) -> None:
    operations = rpc_operations(db)

    assert sorted({op["operationId"] for op in operations if not op.get("deprecated")}) == sorted(
        f"user_rpc_{name}" for name in RPC_METHODS
    )
    assert all("requestBody" in operation for operation in operations)
