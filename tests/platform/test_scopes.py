import uuid

import pytest

from micro_platform import scopes
from micro_platform.identity import Principal
from permissions import catalogue


def make_principal(granted: set[str]) -> Principal:
    return Principal(
        user_id=uuid.uuid4(),
        username="p",
        kind="user",
        group_ids=(),
        scopes=frozenset(granted),
        method="jwt",
    )


@pytest.mark.django_db
def test_api_admin_expands_to_every_built_in_scope() -> None:
    assert catalogue.expand({"api_admin"}) == set(scopes.BUILT_IN_SCOPES)


@pytest.mark.django_db
def test_expand_drops_names_outside_the_registry() -> None:
    assert catalogue.expand({"profile", "root"}) == {"profile"}


@pytest.mark.django_db
def test_parse_scope_string_rejects_unknown_names() -> None:
    with pytest.raises(scopes.UnknownScope):
        catalogue.parse_scope_string("profile admin:everything")


def test_principal_with_api_admin_has_every_scope() -> None:
    assert make_principal({"api_admin"}).has_scopes(("users:write", "objects:write"))


def test_principal_without_scope_is_denied() -> None:
    principal = make_principal({"users:read"})
    assert principal.has_scope("users:read")
    assert not principal.has_scope("users:write")


@pytest.mark.django_db
def test_the_oauth_toolkit_offers_exactly_the_registry() -> None:
    """One catalogue: the toolkit's scopes backend, discovery and the API list the same scopes
    (OpenID Connect's `openid` and `email` besides), each with the consent page's wording."""
    from oauth2_provider.scopes import get_scopes_backend

    backend = get_scopes_backend()
    assert set(backend.get_all_scopes()) == catalogue.all_scopes() | {"openid", "email"}
    assert set(backend.get_available_scopes()) == set(backend.get_all_scopes())
    assert backend.get_default_scopes() == ["openid", "profile"]
    assert all(backend.get_all_scopes().values())
