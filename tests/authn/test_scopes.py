import uuid

import pytest

from micro_platform import scopes
from micro_platform.identity import Principal


def make_principal(granted: set[str]) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="p",
        kind="user",
        group_ids=(),
        scopes=frozenset(granted),
        method="jwt",
    )


def test_api_admin_expands_to_every_scope() -> None:
    assert scopes.expand({"api_admin"}) == scopes.ALL_SCOPES


def test_expand_drops_names_outside_the_catalogue() -> None:
    assert scopes.expand({"profile", "root"}) == {"profile"}


def test_parse_scope_string_rejects_unknown_names() -> None:
    with pytest.raises(scopes.UnknownScope):
        scopes.parse_scope_string("profile admin:everything")


def test_principal_with_api_admin_has_every_scope() -> None:
    assert make_principal({"api_admin"}).has_scopes(("users:write", "objects:write"))


def test_principal_without_scope_is_denied() -> None:
    principal = make_principal({"users:read"})
    assert principal.has_scope("users:read")
    assert not principal.has_scope("users:write")
