"""The OAuth 2.0 / OpenID Connect endpoints that differ from django-oauth-toolkit's own.

- Discovery: one document, served at the issuer's `/.well-known/openid-configuration` and at
  the toolkit's `/o/.well-known/openid-configuration`, naming the service's JWKS and every
  endpoint, grant and scope it supports.
- Introspection (RFC 7662) answers for every access credential the service issues: OAuth 2.0
  tokens, the token endpoint's JWTs and API keys; and, only when asked with
  `token_type_hint=upstream_token`, for the gateway's upstream tokens.
- The device verification pages are in `authn.oauth.device`.
- The device authorization endpoint is anonymous and stores a row per call: calls are limited
  per IP, and the scope must be catalogue names within a bounded length (the toolkit stores
  any string).
- The token endpoint redeems a device code once, and not after it expired (the toolkit
  answers for an approved code until it is deleted, and never checks its expiry at polling);
  its routine answers to a polling device (`authorization_pending`, `slow_down`) are logged
  at debug level, not as "Bad Request" warnings.
- The consent and logout pages may redirect to a registered client, so their CSP allows form
  submissions to leave the site (the redirect target is checked by the toolkit).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import unquote_plus

from csp.decorators import csp_update
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.log import log_response
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider import views as dot_views
from oauth2_provider.exceptions import (
    InvalidOIDCClientError,
    InvalidOIDCRedirectURIError,
    OAuthToolkitError,
)
from oauth2_provider.models import Application, DeviceGrant
from oauth2_provider.signals import app_authorized
from oauthlib.common import Request as OauthlibRequest

from authn.api_keys.services import InvalidApiKey, api_key_authenticate
from authn.oauth.redirect_uris import redirect_uri_problem
from authn.oauth.resources import RESOURCE, as_oauth_error, service_for_scopes
from authn.oauth.sign_ins import session_facts
from authn.oauth.validators import service_account_of
from authn.tokens import revocation
from authn.tokens.authentication import API_KEY_PREFIX, principal_from_claims, verified_tokens
from authn.tokens.jwt import InvalidAccessToken, upstream_token_decode
from authn.tokens.resources import InvalidTarget, ScopeOutsideResource
from micro_client import contract
from micro_platform import counters
from micro_platform.http import client_ip
from micro_platform.identity import Principal
from permissions import catalogue as registry
from permissions.catalogue import ServiceEntry

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    DEVICE_GRANT,
)
AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
# The token endpoint's answers to a device polling before its user decided (RFC 8628 §3.5).
DEVICE_POLL_ANSWERS = frozenset({"authorization_pending", "slow_down"})
# The `token_type_hint` under which introspection answers for the gateway's upstream token
# (and under which alone it does); any other hint, or none, is about access credentials.
UPSTREAM_TOKEN_HINT = "upstream_token"  # noqa: S105 - a type name, not a secret

TOKEN_ERROR_HEADERS = {
    "Content-Type": "application/json",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}

# Off-site form submissions: the toolkit redirects the consent/logout POST to the client.
leaves_site = method_decorator(csp_update({"form-action": ["https:", "http:"]}), name="dispatch")


def _url(name: str) -> str:
    return f"{settings.MICRO_ISSUER}{reverse(name)}"


class DiscoveryView(dot_views.ConnectDiscoveryInfoView):
    """OpenID Provider metadata, with issuer `MICRO_ISSUER` and the service's JWKS."""

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        document = json.loads(super().get(request, *args, **kwargs).content)
        document.update(
            {
                "issuer": settings.MICRO_ISSUER,
                "jwks_uri": _url("jwks"),
                "revocation_endpoint": _url("oauth2_provider:revoke-token"),
                "introspection_endpoint": _url("oauth2_provider:introspect"),
                "device_authorization_endpoint": _url("oauth2_provider:device-authorization"),
                "grant_types_supported": list(GRANT_TYPES),
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "code_challenge_methods_supported": ["S256"],
                "id_token_signing_alg_values_supported": [contract.ALGORITHM],
                "token_endpoint_auth_methods_supported": AUTH_METHODS,
                "revocation_endpoint_auth_methods_supported": AUTH_METHODS,
                "introspection_endpoint_auth_methods_supported": AUTH_METHODS[:2],
                "scopes_supported": sorted(registry.current().oauth_scopes()),
                "claims_supported": sorted(set(document.get("claims_supported", []))),
            }
        )
        response = JsonResponse(document)
        response["Access-Control-Allow-Origin"] = "*"
        response["Cache-Control"] = "public, max-age=300"
        return response


class IntrospectView(dot_views.IntrospectTokenView):
    """RFC 7662 for a confidential client: OAuth 2.0 tokens, the API's JWTs and API keys."""

    @staticmethod
    def get_token_response(token_value: str | None = None) -> JsonResponse:
        if token_value is None:
            return JsonResponse(
                {"error": "invalid_request", "error_description": "Token parameter is missing."},
                status=400,
            )
        return JsonResponse(introspect(token_value))

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # RFC 7662 §2.1: the token is sent in a POST body, never in a URL (where it is logged).
        return JsonResponse(
            {"error": "invalid_request", "error_description": "Use POST."}, status=405
        )

    _client: Application | None = None

    def authenticate_client(self, request: HttpRequest) -> bool:
        """The toolkit's client authentication (run once, by its dispatch), keeping the client
        it authenticated for `post` to judge."""
        core = self.get_oauthlib_core()
        uri, http_method, body, headers = core._extract_params(request)
        oauth_request = OauthlibRequest(uri, http_method, body, headers)
        authenticated = bool(core.server.request_validator.authenticate_client(oauth_request))
        self._client = getattr(oauth_request, "client", None) if authenticated else None
        return authenticated

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # Only services may ask (RFC 7662 §4): confidential clients of active service accounts,
        # or made by an administrator; not a client a user registered for their app, and not a
        # public client (the toolkit lets one "authenticate" with no secret at all). The client
        # is the one the credentials authenticated (never an id merely named in the request).
        client = self._client
        if client is None or not may_introspect(client):
            return _oauth_error(
                "access_denied", "This client may not introspect tokens.", status=403
            )
        token = request.POST.get("token")
        if token is not None and request.POST.get("token_type_hint") == UPSTREAM_TOKEN_HINT:
            return JsonResponse(introspect_upstream_token(token))
        return super().post(request, *args, **kwargs)


def may_introspect(client: Application) -> bool:
    """Only clients operators made: an administrator's (no owner), or a service account's
    client-credentials client (createserviceaccount). A client registered in the dashboard is
    never trusted, even when a service account registered it."""
    if client.client_type != Application.CLIENT_CONFIDENTIAL:
        return False
    if client.user is None:
        return True
    return (
        client.authorization_grant_type == Application.GRANT_CLIENT_CREDENTIALS
        and service_account_of(client) is not None
    )


def introspect(raw: str) -> dict[str, Any]:
    """What RFC 7662 says about `raw`: `{"active": false}` for anything not live, and for
    anything that is not an access credential (an upstream token is only answered for when
    asked about by its own hint, see `introspect_upstream_token`). Introspection is how a
    service learns of a revocation at once: it reads the shared cache, not the process memo."""
    try:
        if raw.startswith(API_KEY_PREFIX):
            principal = api_key_authenticate(raw=raw, fresh=True)
            return _active(principal, token_type="api_key")  # noqa: S106 - a type name
        verified = verified_tokens.verified(raw, fresh=True)  # signature, claims, revocation
    except (InvalidApiKey, InvalidAccessToken):
        return {"active": False}
    return _signed_active(verified.principal, verified.claims, token_type="access_token")  # noqa: S106


def introspect_upstream_token(raw: str) -> dict[str, Any]:
    """The answer for a gateway upstream token, asked about with its own `token_type_hint`:
    active while it verifies as one and neither it nor the sign-in, API key or access token it
    derives from is revoked. Never active for an access token (the kinds are not confused)."""
    try:
        claims = upstream_token_decode(raw)
        principal = principal_from_claims(claims)
    except InvalidAccessToken:
        return {"active": False}
    if revocation.is_revoked(claims, fresh=True):
        return {"active": False}
    return _signed_active(principal, claims, token_type=UPSTREAM_TOKEN_HINT)


def _signed_active(
    principal: Principal, claims: dict[str, Any], *, token_type: str
) -> dict[str, Any]:
    """The answer for a live signed token: the principal's, with the token's own claims."""
    return {
        **_active(principal, token_type=token_type),
        **{name: claims[name] for name in ("iat", "iss", "aud", "jti")},
    }


def _active(principal: Principal, *, token_type: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "active": True,
        "token_type": token_type,
        "scope": " ".join(sorted(principal.scopes)),
        "sub": str(principal.user_id),
        "username": principal.username,
        "kind": principal.kind,
        "groups": [str(group_id) for group_id in principal.group_ids],
    }
    if principal.expires_at is not None:
        answer["exp"] = principal.expires_at
    if principal.client_id:
        answer["client_id"] = principal.client_id
    return answer


# Device authorizations one IP may start per window: each stores a device grant row.
DEVICE_AUTHORIZATIONS_PER_IP = 60
DEVICE_AUTHORIZATION_WINDOW_SECONDS = 900
# Longer than every catalogue scope named once; a longer value is refused before parsing.
MAX_SCOPE_LENGTH = 256


def scope_is_known(scope: str) -> bool:
    """True when `scope` is within MAX_SCOPE_LENGTH and names only catalogue scopes."""
    if len(scope) > MAX_SCOPE_LENGTH:
        return False
    return set(scope.split()) <= registry.current().oauth_scopes().keys()


class DeviceAuthorizationView(dot_views.DeviceAuthorizationView):
    """`/o/device-authorization/` (RFC 8628 §3.1): at most DEVICE_AUTHORIZATIONS_PER_IP calls
    per IP and window (`429` + `Retry-After`), and only catalogue scopes (`invalid_scope`)."""

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = _device_authorization_wait(client_ip(request))
        if wait:
            response = _oauth_error(
                "slow_down", "Too many device authorizations; see Retry-After.", status=429
            )
            response["Retry-After"] = str(wait)
            return response
        if not all(scope_is_known(scope) for scope in request.POST.getlist("scope")):
            return _oauth_error("invalid_scope", "The scope is too long or names an unknown scope.")
        return super().post(request, *args, **kwargs)


def _device_authorization_wait(ip_address: str | None) -> int:
    """Counts one call from `ip_address`; seconds to wait when it is over the limit, else 0."""
    if not ip_address:
        return 0
    now = int(time.time())
    window = now // DEVICE_AUTHORIZATION_WINDOW_SECONDS
    key = f"oauth:device-authorizations:{ip_address}:{window}"
    count = counters.counter_incr(key, DEVICE_AUTHORIZATION_WINDOW_SECONDS)
    if count <= DEVICE_AUTHORIZATIONS_PER_IP:
        return 0
    return max(1, (window + 1) * DEVICE_AUTHORIZATION_WINDOW_SECONDS - now)


def _basic_client_id(request: HttpRequest) -> str:
    """The client id of an `Authorization: Basic` header (RFC 6749 §2.3.1), or ""."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
    return unquote_plus(decoded.partition(":")[0])


def _oauth_error_code(response: HttpResponse) -> str | None:
    """The `error` of an OAuth 2.0 JSON error response, or None."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None


def _oauth_error(error: str, description: str, status: int = 400) -> JsonResponse:
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


class TokenView(dot_views.TokenView):
    """`/o/token/`. An authorization code is exchanged in one transaction that holds the
    code's row locked (see `MicroOAuth2Validator.validate_code`), so two concurrent exchanges
    of one code cannot both succeed; device codes are redeemed at most once and only before
    they expire."""

    def create_token_response(self, request: HttpRequest) -> tuple[Any, Any, Any, Any]:
        url, headers, body, status = super().create_token_response(request)
        # An error raised while the token is made (an inactive account, a scope not held, a
        # resource refused) reaches here with only the error's own headers: it is JSON and
        # not to be cached like every other answer of this endpoint (RFC 6749 §5.2).
        headers = {**TOKEN_ERROR_HEADERS, **headers} if status >= 400 else headers
        return url, headers, body, status

    @method_decorator(sensitive_post_parameters("password", "client_secret"))
    def authorization_flow_token_response(
        self, request: HttpRequest, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        if request.POST.get("grant_type") != "authorization_code":
            return self._token_response(request, *args, **kwargs)
        with transaction.atomic():
            return self._token_response(request, *args, **kwargs)

    def _token_response(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if app_authorized.has_listeners(self):
            return super().authorization_flow_token_response(request, *args, **kwargs)
        # The toolkit reads the stored token back only to send `app_authorized` with it: with
        # no receiver, the answer it builds is the same without that read.
        url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status)
        for name, value in headers.items():
            response[name] = value
        return response

    def device_flow_token_response(
        self, request: HttpRequest, device_code: str, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        client_id = _basic_client_id(request) or request.POST.get("client_id", "")
        with transaction.atomic():
            device = (
                DeviceGrant.objects.select_for_update()
                .filter(device_code=device_code, client_id=client_id)
                .first()
            )
            if device is None:
                return _oauth_error("invalid_grant", "Unknown device code.")
            if device.is_expired():  # also records the expiry on the row
                return _oauth_error("expired_token", "The device code has expired.")
            response = super().device_flow_token_response(request, device_code, *args, **kwargs)
            if response.status_code == 200:
                # Redeemed: the row goes, so the code cannot be exchanged again.
                device.delete()
            return response

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.POST.get("grant_type") != DEVICE_GRANT:
            return super().post(request, *args, **kwargs)
        if not request.POST.get("device_code"):
            return _oauth_error("invalid_request", "The device_code parameter is missing.")
        response = super().post(request, *args, **kwargs)
        if response.status_code == 400 and _oauth_error_code(response) in DEVICE_POLL_ANSWERS:
            # A device polls every few seconds until its user decides: its "not yet" answers
            # are routine, so they are logged at debug level, and Django (seeing the response
            # logged) does not add its "Bad Request" warning. Other 400s keep the warning.
            log_response(
                "%s: %s",
                response.reason_phrase,
                request.path,
                response=response,
                request=request,
                level="debug",
            )
        return response


SIGN_IN = "micro_sign_in"


@leaves_site
class AuthorizationView(dot_views.AuthorizationView):
    """The consent page (the toolkit's view, behind the dashboard sign-in with MFA).

    `resource` names the one registered service the client asks access to (its audience or
    its name): the page says which, and an unknown one, or a scope that service does not
    own, goes back to the client as `invalid_target` / `invalid_scope` once the client and
    its redirect URI are known good (otherwise the error page, never a redirect). The
    toolkit never sees the parameter, which it would check as an absolute URI; the
    validator checks it again when the code is issued (authn.oauth.resources)."""

    resource_names: Sequence[str] = ()
    resource: ServiceEntry | None = None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        self.resource_names = tuple(request.GET.getlist(RESOURCE))
        if self.resource_names:
            query = request.GET.copy()
            del query[RESOURCE]
            query._mutable = False
            request.GET = query  # type: ignore[assignment] # the stubs' name for a read-only one
        return super().get(request, *args, **kwargs)

    def validate_authorization_request(self, request: HttpRequest) -> tuple[Any, Any]:
        scopes, credentials = super().validate_authorization_request(request)
        try:
            self.resource = service_for_scopes(self.resource_names, scopes)
        except (InvalidTarget, ScopeOutsideResource) as exc:
            error = as_oauth_error(exc, state=credentials.get("state"))
            raise OAuthToolkitError(error=error, redirect_uri=credentials["redirect_uri"]) from exc
        return scopes, credentials

    def get_initial(self) -> dict[str, Any]:
        return {**super().get_initial(), RESOURCE: " ".join(self.resource_names)}

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "resource": self.resource}

    def form_valid(self, form: Any) -> HttpResponse:
        self.resource_names = tuple((form.cleaned_data.pop(RESOURCE, None) or "").split())
        return super().form_valid(form)

    def create_authorization_response(
        self, request: HttpRequest, scopes: Any, credentials: dict[str, Any], allow: bool
    ) -> Any:
        # Always set, so a `resource` in the query string cannot reach the grant unchecked.
        credentials[RESOURCE] = list(self.resource_names)
        # How the user signed in, recorded with the code for its tokens (authn.oauth.sign_ins).
        credentials[SIGN_IN] = session_facts(request.session)
        return super().create_authorization_response(request, scopes, credentials, allow)


class UserInfoView(dot_views.UserInfoView):
    """`/o/userinfo/`: the toolkit checks its token row; the revocation list is checked too,
    so a token revoked through `/api/v1/auth/token/revoke` or with its user gets nothing."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and raw:
            try:
                verified_tokens.verified(raw.strip())
            except InvalidAccessToken:
                response = _oauth_error("invalid_token", "The access token is not valid.", 401)
                response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
                return response
        return super().dispatch(request, *args, **kwargs)


@leaves_site
class LogoutView(dot_views.RPInitiatedLogoutView):
    """RP-initiated logout (OpenID Connect): ends the dashboard session."""

    def get_request_application(self, id_token: Any, client_id: str | None) -> Any:
        try:
            return super().get_request_application(id_token, client_id)
        except Application.DoesNotExist as exc:  # the toolkit lets this become a 500
            raise InvalidOIDCClientError() from exc

    def validate_post_logout_redirect_uri(
        self, application: Any, post_logout_redirect_uri: str | None
    ) -> None:
        # Registered is not enough: the URI must also pass the service's rule, in case a
        # stored client lists one it refuses (http to a host that is not loopback, say).
        if post_logout_redirect_uri and redirect_uri_problem(post_logout_redirect_uri):
            raise InvalidOIDCRedirectURIError("This redirect URI is not allowed.")
        super().validate_post_logout_redirect_uri(application, post_logout_redirect_uri)
