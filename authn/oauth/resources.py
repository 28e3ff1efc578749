"""`resource` (RFC 8707) at the authorize and token endpoints: the one registered service an
OAuth 2.0 access token is for.

django-oauth-toolkit's own handling is not used: it accepts only absolute URIs, keeps them
as given on the grant and on every token row, and makes a refresh inherit them. Here a
resource is a registered service (its audience or its name, as at the API's token
endpoints), the grant keeps the service's name, and so do the token rows of a code authorized
for it (a refresh stays for that service); otherwise the rows stay general. The scopes on
the rows are never narrowed: only the signed access token is.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from oauthlib.oauth2 import InvalidScopeError
from oauthlib.oauth2.rfc6749.errors import CustomOAuth2Error, OAuth2Error

from authn.tokens.resources import (
    InvalidTarget,
    ScopeOutsideResource,
    check_requested,
    resource_service,
)
from micro_platform import scopes as scope_catalogue
from permissions.catalogue import ServiceEntry

RESOURCE = "resource"
INVALID_TARGET = "invalid_target"


def one_service(names: Iterable[str]) -> ServiceEntry | None:
    """The registered service the `resource` values of one request name, None for none;
    InvalidTarget for an unknown one, or for values naming more than one service (a token
    is for one service)."""
    named = {name for name in names if name}
    if len(named) > 1:
        raise InvalidTarget("A request may name one resource only.")
    return resource_service(next(iter(named), None))


def service_for_scopes(names: Iterable[str], scopes: Iterable[str]) -> ServiceEntry | None:
    """The service `names` name, when every scope asked for is one a token for it may carry
    (`openid` and `email` are a sign-in's, not scopes of any service); InvalidTarget or
    ScopeOutsideResource."""
    service = one_service(names)
    check_requested(frozenset(scopes) - set(scope_catalogue.SIGN_IN_SCOPES), service)
    return service


def as_oauth_error(exc: InvalidTarget | ScopeOutsideResource, **kwargs: Any) -> OAuth2Error:
    """The OAuth 2.0 error for a refused resource: `invalid_target` or `invalid_scope`."""
    if isinstance(exc, ScopeOutsideResource):
        return InvalidScopeError(description=str(exc), **kwargs)
    return CustomOAuth2Error(error=INVALID_TARGET, description=str(exc), **kwargs)


def authorization_resource(request: Any) -> ServiceEntry | None:
    """The service an authorization request names (invalid_target, or invalid_scope for a
    scope it does not own), checked again when the code is issued: the consent form's
    hidden field is the browser's to change."""
    names = request.resource if isinstance(request.resource, list) else []
    try:
        return service_for_scopes(names, request.scopes or [])
    except (InvalidTarget, ScopeOutsideResource) as exc:
        raise as_oauth_error(exc, request=request) from exc


def _named(request: Any) -> list[str]:
    # Every `resource` of the token request: oauthlib keeps only the last of repeated
    # parameters, and one in the query string must not be ignored either.
    pairs = [*parse_qsl(request.uri_query), *(request.decoded_body or [])]
    return [value for key, value in pairs if key == RESOURCE and value]


def _name(service: ServiceEntry | None) -> str | None:
    return None if service is None else service.name


def authorized_resource(request: Any) -> list[str]:
    """The service (by name, in a list; empty for none) the grant behind a token request was
    authorized for: its code's, or its refresh token's, which keeps the code's."""
    code = getattr(request, "micro_authorized_resource", None)
    if code:
        return list(code)
    refresh_token = getattr(request, "refresh_token_instance", None)
    return list(getattr(refresh_token, "resource", None) or [])


def token_resource(request: Any) -> ServiceEntry | None:
    """The service a token request's access token is for: the one `resource` it names, else
    the one its authorization was given for. invalid_target for an unknown resource, and for
    a code exchange or refresh naming another service than the authorization did;
    invalid_scope for a `scope` asked for here that the service does not own."""
    named = _named(request)
    authorized = authorized_resource(request)
    asked = (request.scope or "").split()
    try:
        service = service_for_scopes(named or authorized, asked)
        if named and authorized and _name(service) != _name(one_service(authorized)):
            raise InvalidTarget("The authorization was given for another resource.")
    except (InvalidTarget, ScopeOutsideResource) as exc:
        raise as_oauth_error(exc, request=request) from exc
    return service
