"""The OAuth 2.0 and OpenID Connect endpoints under `/o/` in the API's schema.

They are django-oauth-toolkit's views, not DRF's, so drf-spectacular cannot see them: a
postprocessing hook adds them as written here, tagged `oauth`, so clients are generated from
the one schema. Their bodies are forms (`application/x-www-form-urlencoded`) and their errors
the JSON of RFC 6749 §5.2 (`{"error", "error_description"}`), not problem details.
"""

from __future__ import annotations

import copy
from typing import Any

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
TAG = "oauth"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(description: str, **extra: Any) -> dict[str, Any]:
    return {"type": "string", "description": description, **extra}


def _grant(grant_type: str, required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["grant_type", *required],
        "properties": {"grant_type": {"type": "string", "enum": [grant_type]}, **properties},
    }


_RESOURCE = _text("A registered service (audience or name): the token is for it only.")
_SCOPE = _text("Space-separated scopes (registered ones, and `openid`).")
# A client authenticates with HTTP Basic (client_secret_basic), with its id and secret in the
# form (client_secret_post), or, a public client, with its id alone (none): as the discovery
# document advertises and django-oauth-toolkit accepts.
_CLIENT_ID = _text("The client's id, when it does not use HTTP Basic.")
_CLIENT_SECRET = _text(
    "A confidential client's secret, with `client_id`, when it does not use HTTP Basic"
    " (client_secret_post; HTTP Basic is preferred)."
)
_CLIENT = {"client_id": _CLIENT_ID, "client_secret": _CLIENT_SECRET}

SCHEMAS: dict[str, Any] = {
    "OAuthError": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": _text("An RFC 6749 §5.2 (or RFC 8628, RFC 8707) error code."),
            "error_description": _text("What was wrong, for a developer."),
        },
    },
    "OAuthTokenAuthorizationCode": _grant(
        "authorization_code",
        ["code", "redirect_uri", "code_verifier"],
        code=_text("The code the redirect carried (works once)."),
        redirect_uri=_text("The redirect URI of the authorization request."),
        code_verifier=_text("The PKCE verifier (S256 only)."),
        resource=_RESOURCE,
        **_CLIENT,
    ),
    "OAuthTokenRefresh": _grant(
        "refresh_token",
        ["refresh_token"],
        refresh_token=_text("The refresh token; a new one replaces it."),
        scope=_SCOPE,
        resource=_RESOURCE,
        **_CLIENT,
    ),
    "OAuthTokenClientCredentials": _grant(
        "client_credentials", [], scope=_SCOPE, resource=_RESOURCE, **_CLIENT
    ),
    "OAuthTokenDeviceCode": _grant(
        "urn:ietf:params:oauth:grant-type:device_code",
        ["device_code", "client_id"],
        device_code=_text("The `device_code` of `/o/device-authorization/`."),
        **_CLIENT,
    ),
    "OAuthTokenResponse": {
        "type": "object",
        "required": ["access_token", "token_type", "expires_in"],
        "properties": {
            "access_token": _text("An RS256 JWT (`typ: at+jwt`)."),
            "token_type": {"type": "string", "enum": ["Bearer"]},
            "expires_in": {"type": "integer"},
            "scope": _SCOPE,
            "refresh_token": _text("Not for `client_credentials`."),
            "id_token": _text("With `openid`."),
        },
    },
    "OAuthIntrospection": {
        "type": "object",
        "required": ["active"],
        "description": "RFC 7662: only `active` for a token that is not active.",
        "properties": {
            "active": {"type": "boolean"},
            "scope": _SCOPE,
            "client_id": {"type": "string"},
            "username": {"type": "string"},
            "token_type": {"type": "string"},
            "exp": {"type": "integer"},
            "iat": {"type": "integer"},
            "nbf": {"type": "integer"},
            "sub": {"type": "string"},
            "aud": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
            "iss": {"type": "string"},
            "jti": {"type": "string"},
        },
    },
    "OAuthDeviceAuthorization": {
        "type": "object",
        "required": ["device_code", "user_code", "verification_uri", "expires_in"],
        "properties": {
            "device_code": {"type": "string"},
            "user_code": _text("What the user enters at `verification_uri`."),
            "verification_uri": {"type": "string", "format": "uri"},
            "verification_uri_complete": {"type": "string", "format": "uri"},
            "expires_in": {"type": "integer"},
            "interval": _text("Seconds between polls of `/o/token/`.", type="integer"),
        },
    },
    "OAuthUserInfo": {
        "type": "object",
        "required": ["sub"],
        "description": "The OpenID Connect claims the token's scopes release.",
        "properties": {"sub": {"type": "string"}},
        "additionalProperties": True,
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref("OAuthError")}}}


def _form(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {FORM: {"schema": schema}}}


# HTTP Basic, or no scheme: the client's credentials (or a public client's id) in the form.
CLIENT_AUTH: list[dict[str, list[str]]] = [{"oauthClientBasic": []}, {}]

PATHS: dict[str, Any] = {
    "/o/authorize/": {
        "get": {
            "operationId": "oauth_authorize",
            "summary": "Authorization request (a browser navigation, not an API call)",
            "description": "Authorization code with PKCE (S256). Behind the dashboard sign-in;"
            " after consent the browser is redirected to `redirect_uri` with `code` and"
            " `state` (or `error`). An unknown client or redirect URI gets an error page.",
            "tags": [TAG],
            "security": [{"cookieAuth": []}, {}],
            "parameters": [
                {"name": name, "in": "query", "required": required, "schema": schema}
                for name, required, schema in [
                    ("response_type", True, {"type": "string", "enum": ["code"]}),
                    ("client_id", True, {"type": "string"}),
                    ("redirect_uri", True, {"type": "string"}),
                    ("scope", False, {"type": "string"}),
                    ("state", False, {"type": "string"}),
                    ("code_challenge", True, {"type": "string"}),
                    ("code_challenge_method", True, {"type": "string", "enum": ["S256"]}),
                    ("nonce", False, {"type": "string"}),
                    ("resource", False, {"type": "string"}),
                ]
            ],
            "responses": {
                "200": {"description": "The consent page (HTML).", "content": {"text/html": {}}},
                "302": {
                    "description": "To the sign-in page, or back to `redirect_uri`.",
                    "headers": {"Location": {"schema": {"type": "string"}}},
                },
                "400": {"description": "An error page (HTML).", "content": {"text/html": {}}},
            },
        }
    },
    "/o/token/": {
        "post": {
            "operationId": "oauth_token",
            "summary": "Token endpoint (RFC 6749), each grant its own body",
            "tags": [TAG],
            "security": CLIENT_AUTH,
            "requestBody": _form(
                {
                    "oneOf": [
                        _ref("OAuthTokenAuthorizationCode"),
                        _ref("OAuthTokenRefresh"),
                        _ref("OAuthTokenClientCredentials"),
                        _ref("OAuthTokenDeviceCode"),
                    ],
                    "discriminator": {"propertyName": "grant_type"},
                }
            ),
            "responses": {
                "200": {
                    "description": "The tokens.",
                    "content": {JSON: {"schema": _ref("OAuthTokenResponse")}},
                },
                "400": _error(
                    "`invalid_request`, `invalid_grant`, `invalid_scope`, `invalid_target`,"
                    " `unsupported_grant_type`, `authorization_pending`, `slow_down`,"
                    " `expired_token`, `access_denied`."
                ),
                "401": _error("`invalid_client`."),
            },
        }
    },
    "/o/revoke_token/": {
        "post": {
            "operationId": "oauth_revoke_token",
            "summary": "Revocation (RFC 7009): takes effect at once",
            "tags": [TAG],
            "security": CLIENT_AUTH,
            "requestBody": _form(
                {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string"},
                        "token_type_hint": {
                            "type": "string",
                            "enum": ["access_token", "refresh_token"],
                        },
                        **_CLIENT,
                    },
                }
            ),
            "responses": {
                "200": {"description": "Revoked, or unknown: the same answer."},
                "400": _error("`invalid_request`, `unsupported_token_type`."),
                "401": _error("`invalid_client`."),
            },
        }
    },
    "/o/introspect/": {
        "post": {
            "operationId": "oauth_introspect",
            "summary": "Introspection (RFC 7662) for the clients of services",
            "description": "OAuth access tokens, the API's JWTs and API keys; the gateway's"
            " upstream token only with `token_type_hint=upstream_token`. Only a confidential"
            " client of a service (client_secret_basic or client_secret_post) may ask; a bearer"
            " token is no credential here.",
            "tags": [TAG],
            "security": CLIENT_AUTH,
            "requestBody": _form(
                {
                    "type": "object",
                    "required": ["token"],
                    "properties": {
                        "token": {"type": "string"},
                        "token_type_hint": {"type": "string"},
                        **_CLIENT,
                    },
                }
            ),
            "responses": {
                "200": {
                    "description": "Whether the token is active, and its claims if so.",
                    "content": {JSON: {"schema": _ref("OAuthIntrospection")}},
                },
                "400": _error("`invalid_request`: no `token`."),
                "403": {
                    "description": "No client credential or a wrong one (an empty body), or a"
                    " client that may not introspect (`access_denied`, as JSON).",
                },
            },
        }
    },
    "/o/userinfo/": {
        "get": {
            "operationId": "oauth_userinfo",
            "summary": "OpenID Connect UserInfo",
            "tags": [TAG],
            "security": [{"bearerAuth": []}],
            "responses": {
                "200": {
                    "description": "The claims.",
                    "content": {JSON: {"schema": _ref("OAuthUserInfo")}},
                },
                "401": _error("`invalid_token` (`WWW-Authenticate: Bearer`)."),
                "403": _error("`insufficient_scope`: the token lacks `openid`."),
            },
        }
    },
    "/o/device-authorization/": {
        "post": {
            "operationId": "oauth_device_authorization",
            "summary": "Device authorization (RFC 8628)",
            "description": "The user then enters `user_code` at `/o/device/`; the device polls"
            " `/o/token/` with the device-code grant.",
            "tags": [TAG],
            "security": [{}],
            "requestBody": _form(
                {
                    "type": "object",
                    "required": ["client_id"],
                    "properties": {"client_id": {"type": "string"}, "scope": _SCOPE},
                }
            ),
            "responses": {
                "200": {
                    "description": "The codes.",
                    "content": {JSON: {"schema": _ref("OAuthDeviceAuthorization")}},
                },
                "400": _error("`invalid_request`, `invalid_scope`."),
                "401": _error("`invalid_client`."),
                "429": _error("`slow_down`: too many from this address; see `Retry-After`."),
            },
        }
    },
}


def add_oauth_endpoints(result: dict[str, Any], generator: Any, **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: the `/o/` endpoints, their schemas and the
    client's HTTP Basic scheme."""
    result.setdefault("paths", {}).update(copy.deepcopy(PATHS))
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(copy.deepcopy(SCHEMAS))
    components.setdefault("securitySchemes", {})["oauthClientBasic"] = {
        "type": "http",
        "scheme": "basic",
        "description": "An OAuth client's id and secret (client_secret_basic).",
    }
    return result
