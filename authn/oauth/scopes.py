"""django-oauth-toolkit's scopes backend (SCOPES_BACKEND_CLASS): the service's one catalogue
(micro_platform.scopes), so the toolkit, discovery and the API never list different scopes."""

from __future__ import annotations

from typing import Any

from oauth2_provider.scopes import BaseScopes

from micro_platform import scopes as scope_catalogue
from permissions import catalogue as registry

# What a client gets when it asks for no scope: signing in, and the person's own account.
DEFAULT_SCOPES = [scope_catalogue.OPENID, scope_catalogue.PROFILE]


class CatalogueScopes(BaseScopes):
    def get_all_scopes(self) -> dict[str, str]:
        return registry.current().oauth_scopes()

    def get_available_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return list(registry.current().oauth_scopes())

    def get_default_scopes(
        self, application: Any = None, request: Any = None, *args: Any, **kwargs: Any
    ) -> list[str]:
        return list(DEFAULT_SCOPES)
