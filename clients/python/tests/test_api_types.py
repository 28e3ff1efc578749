"""The response TypedDicts (micro_client.types) against the OpenAPI schema they describe
(clients/openapi.json, which `make sdk` writes from the server): a property added, removed,
made optional or nullable, or retyped on one side and not the other fails here."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

from micro_client import types

SCHEMA = Path(__file__).resolve().parents[2] / "openapi.json"
COMPONENTS: dict[str, Any] = json.loads(SCHEMA.read_text())["components"]["schemas"]
TYPED_DICTS: dict[str, Any] = {
    name: value
    for name, value in vars(types).items()
    if isinstance(value, type) and typing.is_typeddict(value) and name != "Page"
}
SIMPLE = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}


def _resolve(prop: dict[str, Any]) -> dict[str, Any]:
    ref = prop.get("$ref") or next(
        (part["$ref"] for part in prop.get("allOf", []) if "$ref" in part), None
    )
    return {**COMPONENTS[ref.rsplit("/", 1)[-1]], "_name": ref.rsplit("/", 1)[-1]} if ref else prop


def _check(name: str, prop: dict[str, Any], annotation: Any) -> None:
    args = get_args(annotation) if get_origin(annotation) in (typing.Union, _UnionType) else ()
    nullable = type(None) in args
    assert nullable == bool(prop.get("nullable")), f"{name}: nullable differs"
    if nullable:
        (annotation,) = [arg for arg in args if arg is not type(None)]
    target = _resolve(prop)
    if "enum" in target:
        assert get_origin(annotation) is Literal, f"{name}: expected a Literal"
        assert set(get_args(annotation)) == set(target["enum"]), f"{name}: enum differs"
    elif "properties" in target:
        assert getattr(annotation, "__name__", None) == target["_name"], f"{name}: wrong type"
    elif "type" in target:
        expected = SIMPLE[target["type"]]
        assert (get_origin(annotation) or annotation) is expected, f"{name}: not {expected}"
    else:  # any JSON value
        assert annotation is Any, f"{name}: expected Any"


_UnionType = type(int | None)


def test_every_typed_dict_names_a_schema_component() -> None:
    assert TYPED_DICTS
    assert set(TYPED_DICTS) <= set(COMPONENTS)


@pytest.mark.parametrize("name", sorted(TYPED_DICTS))
def test_a_typed_dict_has_its_components_properties(name: str) -> None:
    component = COMPONENTS[name]
    typed_dict = TYPED_DICTS[name]
    properties = component["properties"]

    assert set(typed_dict.__annotations__) == set(properties)
    assert typed_dict.__required_keys__ == set(component.get("required", []))
    hints = get_type_hints(typed_dict)
    for field, prop in properties.items():
        _check(f"{name}.{field}", prop, hints[field])


def test_every_cursor_page_has_the_page_shape() -> None:
    pages = [
        component
        for component in COMPONENTS.values()
        if set(component.get("properties", {})) == {"results", "next"}
    ]
    assert len(pages) >= 5
    hints = get_type_hints(types.Page)
    for component in pages:
        assert types.Page.__required_keys__ == set(component["required"])
        _check("Page.next", component["properties"]["next"], hints["next"])
