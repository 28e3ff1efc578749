"""Gateway forward-auth (docs/gateway.md): nginx `auth_request`, Traefik `forwardAuth`, Envoy.

200 with the identity headers for a valid credential holding the required scopes; 401
without one; 403 when a scope is missing; 503 when a dependency is down (the exception
handler); never 2xx on doubt. The identity comes only from the credential: client-sent
`X-User-*` headers are never read.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.api_keys.authentication import bound_elsewhere
from authn.tokens.jwt import upstream_token_issue
from authn.tokens.resources import (
    InvalidTarget,
    invalid_scope_problem,
    invalid_target_problem,
    resource_service,
)
from micro_platform import metrics
from micro_platform import scopes as scope_catalogue
from micro_platform.errors import Problem
from micro_platform.health import database_liveness
from micro_platform.http import principal_of
from micro_platform.identity import Principal
from micro_platform.openapi import problem
from permissions import catalogue as registry
from permissions.catalogue import ServiceEntry

REQUIRED_SCOPES_HEADER = "HTTP_X_REQUIRED_SCOPES"
RESOURCE_PARAMETER = "resource"
USER_TOKEN_TTL = 60
# A cached X-User-Token is handed out while it has at least this much life left.
_USER_TOKEN_MIN_LIFE = 30


class _UserTokenCache:
    """Per-process cache of minted X-User-Tokens, keyed by the whole principal.

    RSA signing costs far more than the rest of a verify, so a principal seen again within
    half the token's life gets the token minted for it before (P1). The key is the frozen
    principal itself: a different scope set, group list, credential or `jti` is a different
    entry. Only an identity that was just verified reaches this cache, and it holds nothing
    the signed token does not already say, so a per-process cache is safe here.
    """

    def __init__(self, size: int = 4096) -> None:
        self._entries: OrderedDict[Principal, tuple[str, float]] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def token_for(self, principal: Principal) -> str:
        now = time.time()
        with self._lock:
            cached = self._entries.get(principal)
        if cached is not None and cached[1] - now >= _USER_TOKEN_MIN_LIFE:
            return cached[0]
        token, expires = _mint_user_token(principal, now)
        with self._lock:
            self._entries[principal] = (token, expires)
            self._entries.move_to_end(principal)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return token

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def _mint_user_token(principal: Principal, now: float) -> tuple[str, float]:
    """The upstream token of the identity (`typ: user+jwt`, the upstream audience: refused by
    this service's API), living 60 s and never beyond the credential it came from; its `sid`
    (sign-in, dashboard session or API key), `parent_jti` and `parent_digest` (the access
    token, an OAuth 2.0 one by its digest) let every revocation of its source reach it."""
    lifetime = USER_TOKEN_TTL
    if principal.expires_at is not None:
        lifetime = max(1, min(lifetime, int(principal.expires_at - now)))
    issued = upstream_token_issue(
        subject=principal.user_id,
        username=principal.username,
        kind=principal.kind,
        scopes=principal.scopes,
        group_ids=principal.group_ids,
        amr=principal.amr,
        lifetime=lifetime,
        session_id=principal.session_id or principal.api_key_id,
        parent_jti=principal.jti,
        parent_digest=principal.token_digest,
        client_id=principal.client_id,
    )
    return issued.token, now + issued.expires_in


user_tokens = _UserTokenCache()


def required_scopes(request: Request) -> frozenset[str]:
    """`?scope=a+b` and/or `X-Required-Scopes: a b`; a name not in the registry is a 403
    `invalid_scope` (nobody can hold it: a misconfigured route, never a 2xx)."""
    return required_scopes_of(request.query_params, request.META)


def required_scopes_of(query: Mapping[str, str], meta: Mapping[str, Any]) -> frozenset[str]:
    """The scopes a verify requires, from its query string and WSGI environ (the fast path
    reads them from a plain request): `required_scopes`' rule."""
    names = query.get("scope", "").split()
    names += str(meta.get(REQUIRED_SCOPES_HEADER, "")).split()
    try:
        return registry.validate_scopes(names)
    except scope_catalogue.UnknownScope as exc:
        raise invalid_scope_problem(str(exc)) from exc


def gateway_target(request: Request) -> ServiceEntry | None:
    """The service `?resource=` names (its audience or name), None without one; a name no
    registered service has is a 403 `invalid_target` (a misconfigured route, never a 2xx).
    Reads the cached registry only."""
    return target_of(request.query_params)


def target_of(query: Mapping[str, str]) -> ServiceEntry | None:
    """`gateway_target`'s rule on a query string."""
    try:
        return resource_service(query.get(RESOURCE_PARAMETER))
    except InvalidTarget as exc:
        raise invalid_target_problem(exc) from exc


def target_audiences(target: ServiceEntry | None) -> tuple[str, ...] | None:
    """Access tokens for this service, and for the service `?resource=` names."""
    return None if target is None else (settings.MICRO_TOKEN_AUDIENCE, target.audience)


def key_accepted(principal: Principal, target: ServiceEntry | None) -> bool:
    """Unbound keys, and keys bound to the service `?resource=` names."""
    return not bound_elsewhere(principal) or (
        target is not None and target.name == principal.resource
    )


def identity_headers(principal: Principal) -> dict[str, str]:
    return {
        "X-User-Id": str(principal.user_id),
        "X-User-Name": principal.username,
        "X-User-Kind": principal.kind,
        "X-User-Scopes": scope_catalogue.to_string(principal.scopes),
        "X-User-Groups": ",".join(str(group_id) for group_id in principal.group_ids),
        "X-Auth-Method": principal.method,
        "X-User-Token": user_tokens.token_for(principal),
    }


def allowed_headers(principal: Principal) -> dict[str, str]:
    """The headers of a verify's 200: the identity, never to be cached."""
    return {**identity_headers(principal), "Cache-Control": "no-store"}


class VerifyApi(APIView):
    """Forward-auth for gateways, on any method: identity headers for a valid credential.
    `?resource=` names the service behind the route: its tokens and keys are accepted too."""

    required_scopes = ()  # any principal; `?scope=` adds per-route requirements
    # Every proxied request passes here, so a global throttle would throttle the platform;
    # nothing checked here can be guessed (signed tokens, 256-bit key secrets, session ids).
    throttle_classes = ()

    def token_audiences(self, request: Request) -> tuple[str, ...] | None:
        """Access tokens for this service, and for the service `?resource=` names."""
        return target_audiences(gateway_target(request))

    def accepts_api_key(self, request: Request, principal: Principal) -> bool:
        """Unbound keys, and keys bound to the service `?resource=` names."""
        return key_accepted(principal, gateway_target(request))

    def initial(self, request: Request, *args: object, **kwargs: object) -> None:
        gateway_target(request)  # an unknown `resource` is a 403 before any credential is read
        super().initial(request, *args, **kwargs)

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("scope", str, description="Required scopes, space-separated."),
            OpenApiParameter(
                RESOURCE_PARAMETER,
                str,
                description="The registered service (audience or name) behind the route: its"
                " access tokens and the API keys bound to it are accepted too.",
            ),
            OpenApiParameter(
                "X-Required-Scopes",
                str,
                OpenApiParameter.HEADER,
                description="Required scopes, space-separated (added to `scope`).",
            ),
        ],
        responses={
            200: OpenApiResponse(description="Authenticated; identity in `X-User-*` headers."),
            403: problem(
                "`insufficient_scope`: the credential lacks a required scope; `invalid_scope`:"
                " `scope` or `X-Required-Scopes` names a scope nobody can hold (not in the"
                " registry); `invalid_target`: `resource` names no registered service."
            ),
            503: problem("A dependency (database or cache) is down: denied."),
        },
    )
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        # Fail closed: no identity headers while the database is down, even for a credential
        # checked without it (at most one `SELECT 1` per process and second).
        database_liveness.require()
        missing = sorted(
            scope for scope in required_scopes(request) if not principal.has_scope(scope)
        )
        if missing:
            raise Problem(
                status_code=403,
                code="insufficient_scope",
                detail=f"The credential lacks: {' '.join(missing)}.",
            )
        return Response(status=200, headers=allowed_headers(principal))

    def finalize_response(
        self, request: Request, response: Response, *args: object, **kwargs: object
    ) -> Response:
        # Counted here, where refusals raised by authentication have become responses too.
        metrics.gateway_verify(response.status_code)
        return super().finalize_response(request, response, *args, **kwargs)

    # Gateways forward the original method; every one is answered the same way.
    post = put = patch = delete = options = get
