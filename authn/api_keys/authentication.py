"""DRF authentication for API keys: `Authorization: Bearer mk_...` or `X-API-Key: mk_...`."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from authn.api_keys.services import InvalidApiKey, api_key_authenticate
from authn.tokens.authentication import API_KEY_PREFIX, bearer_credential
from micro_platform.identity import Principal
from micro_platform.scopes import BUILT_IN_SERVICE

API_KEY_HEADER = "HTTP_X_API_KEY"


def api_key_credential(request: Request) -> str | None:
    """The API key the request carries, None when it carries none (another scheme's turn).

    A request carrying an `X-API-Key` and an `Authorization` header is refused: which of two
    credentials it means is a doubt, and doubt is answered with 401.
    """
    header = request.META.get(API_KEY_HEADER)
    bearer = bearer_credential(request)
    if bearer is not None and bearer.startswith(API_KEY_PREFIX) and header is None:
        return bearer
    if header is None:
        return None
    if get_authorization_header(request):
        raise AuthenticationFailed(
            "Send either Authorization or X-API-Key, not both.", code="ambiguous_credentials"
        )
    return str(header)


def bound_elsewhere(principal: Principal) -> bool:
    """Whether the credential is an API key bound to a service other than this one."""
    return principal.resource not in (None, BUILT_IN_SERVICE)


class ApiKeyAuthentication(BaseAuthentication):
    """Authenticates an API key: the key's scopes intersected with what its owner holds now.
    A key bound to another service is refused: it is a credential for that service only."""

    def accepts(self, request: Request, principal: Principal) -> bool:
        """Whether the view takes the key: its `accepts_api_key(request, principal)` when it
        has one (the exchange, the gateway), else only a key for this service's own API
        (unbound, or bound to this service)."""
        view = (request.parser_context or {}).get("view")
        hook = getattr(view, "accepts_api_key", None)
        return bool(hook(request, principal)) if hook else not bound_elsewhere(principal)

    def authenticate(self, request: Request) -> tuple[Principal, None] | None:
        raw = api_key_credential(request)
        if raw is None:
            return None
        try:
            principal = api_key_authenticate(raw=raw)
        except InvalidApiKey as exc:
            raise AuthenticationFailed(
                "The API key is invalid, expired or revoked.", code="invalid_api_key"
            ) from exc
        if not self.accepts(request, principal):
            raise AuthenticationFailed(
                f"This API key is bound to the service {principal.resource}: it is a credential"
                " for that service only, not for this API.",
                code="api_key_bound_elsewhere",
            )
        return principal, None

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="micro"'


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "authn.api_keys.authentication.ApiKeyAuthentication"
    name = "apiKeyAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "An API key `mk_<prefix>_<secret>`, also accepted as "
            "`Authorization: Bearer mk_...`.",
        }
