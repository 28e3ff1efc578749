"""Token endpoints: refresh (with rotation) and the public signing keys (JWKS)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import AuthenticationFailed, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn import lockout
from authn.tokens import services as tokens
from authn.tokens import signing_keys
from authn.tokens.resources import InvalidTarget, invalid_target_problem, resource_service
from authn.tokens.serializers import (
    JwksOut,
    TokenPairOut,
    TokenRefreshIn,
)
from micro_platform.http import client_ip, no_store
from micro_platform.openapi import problem
from micro_platform.serializers import validated_input


def pair_response(pair: tokens.TokenPair) -> Response:
    """The body `TokenPairOut` documents. Its fields are strings and an integer, which the
    serializer would hand back unchanged at a cost of every sign-in and refresh: the body is
    written as it (tests/authn/tokens/test_api.py compares the two)."""
    data: dict[str, Any] = {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "scope": pair.scope,
    }
    return no_store(Response(data))


class TokenRefreshApi(APIView):
    """Rotates a refresh token; re-using a rotated one revokes its whole family."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRefreshIn,
        responses={
            200: TokenPairOut,
            400: problem("Invalid input (`errors` holds field messages)."),
            401: problem("Unknown, expired, revoked or reused."),
            403: problem("`invalid_target`: `resource` names no registered service."),
            429: problem("Too many invalid refresh tokens from this IP; see `Retry-After`."),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated_input(TokenRefreshIn, request.data)
        try:
            resource = resource_service(data.get("resource"))
        except InvalidTarget as exc:
            raise invalid_target_problem(exc) from exc
        ip_address = client_ip(request)
        # Refresh tokens cannot be guessed (256 bits); the throttle stops a client replaying
        # junk or stolen-and-revoked tokens at volume.
        wait = lockout.ip_wait(ip_address=ip_address, scope="refresh")
        if wait:
            raise Throttled(wait=wait, code="too_many_attempts")
        try:
            pair = tokens.token_refresh(
                raw=data["refresh_token"],
                ip_address=ip_address,
                resource=resource,
            )
        except tokens.InvalidRefreshToken as exc:
            lockout.ip_failure_record(ip_address=ip_address, scope="refresh")
            raise AuthenticationFailed(
                "The refresh token is invalid, expired or revoked.", code="invalid_refresh_token"
            ) from exc
        return pair_response(pair)


class JwksApi(APIView):
    """The public signing keys (JWKS): the active key and retired keys still in grace."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: JwksOut}, auth=[])
    def get(self, request: Request) -> Response:
        response = Response(signing_keys.jwks_document())
        response["Cache-Control"] = "public, max-age=300"
        return response
