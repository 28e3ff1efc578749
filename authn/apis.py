"""Token endpoints: password grant, refresh, revoke, logout-all, JWKS."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, Throttled, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.serializers import (
    JwksOut,
    LogoutAllIn,
    TokenObtainIn,
    TokenPairOut,
    TokenRefreshIn,
    TokenRevokeIn,
)
from authn.services import lockout, signing_keys, tokens
from authn.services.recent_sign_in import require_personal_sign_in
from authn.sign_in_errors import SIGN_IN_FAILURES, sign_in_problem
from micro_platform import scopes as sc
from micro_platform.http import client_ip, no_store, principal_of
from micro_platform.openapi import problem


def pair_response(pair: tokens.TokenPair) -> Response:
    data: dict[str, Any] = {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": "Bearer",
        "expires_in": pair.expires_in,
        "scope": pair.scope,
    }
    return no_store(Response(TokenPairOut(data).data))


class TokenObtainApi(APIView):
    """Exchanges a username (or email) and password for an access and a refresh token."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenObtainIn,
        responses={
            200: TokenPairOut,
            400: problem("Invalid input, or `invalid_scope` (unknown or not held)."),
            401: problem(
                "`invalid_credentials` (unknown user and wrong password alike), "
                "`mfa_required` (the account has MFA and no `otp` was given), `mfa_invalid`."
            ),
            429: problem("Locked out or throttled; `Retry-After` says for how long."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenObtainIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            pair = tokens.token_obtain_with_password(
                username=data["username"],
                password=data["password"],
                scope=data.get("scope"),
                ip_address=client_ip(request),
                otp=data.get("otp"),
            )
        except SIGN_IN_FAILURES as exc:
            raise sign_in_problem(exc) from exc
        except tokens.InvalidScope as exc:
            raise ValidationError({"scope": [str(exc)]}, code="invalid_scope") from exc
        return pair_response(pair)


class TokenRefreshApi(APIView):
    """Rotates a refresh token; re-using a rotated one revokes its whole family."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenRefreshIn,
        responses={
            200: TokenPairOut,
            401: problem("Unknown, expired, revoked or reused."),
            429: problem("Too many invalid refresh tokens from this IP; see `Retry-After`."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRefreshIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        ip_address = client_ip(request)
        # Refresh tokens cannot be guessed (256 bits); the throttle stops a client replaying
        # junk or stolen-and-revoked tokens at volume.
        wait = lockout.ip_wait(ip_address=ip_address, scope="refresh")
        if wait:
            raise Throttled(wait=wait, code="too_many_attempts")
        try:
            pair = tokens.token_refresh(
                raw=serializer.validated_data["refresh_token"], ip_address=ip_address
            )
        except tokens.InvalidRefreshToken as exc:
            lockout.ip_failure_record(ip_address=ip_address, scope="refresh")
            raise AuthenticationFailed(
                "The refresh token is invalid, expired or revoked.", code="invalid_refresh_token"
            ) from exc
        return pair_response(pair)


class TokenRevokeApi(APIView):
    """Revokes a refresh token (with its family) or an access token; unknown tokens: 200."""

    permission_classes = [AllowAny]

    @extend_schema(request=TokenRevokeIn, responses={200: None})
    def post(self, request: Request) -> Response:
        serializer = TokenRevokeIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        principal = (
            request.user if request.user is not None and request.user.is_authenticated else None
        )
        tokens.token_revoke(
            raw=serializer.validated_data["token"],
            actor=principal,  # type: ignore[arg-type]
            ip_address=client_ip(request),
        )
        return Response({})


class LogoutAllApi(APIView):
    """Revokes every session and refresh token of the caller, and the calling token; with
    `{"api_keys": true}` also every API key of the caller. Needs `profile` and a person's own
    sign-in (no API key or application's token)."""

    required_scopes = (sc.PROFILE,)

    @extend_schema(
        request=LogoutAllIn,
        responses={
            204: None,
            400: problem("Unknown field or a non-boolean `api_keys`."),
            403: problem("`insufficient_scope`, or `sign_in_required`: not a person's sign-in."),
        },
    )
    def post(self, request: Request) -> Response:
        principal = principal_of(request)
        # The service enforces it for every caller; checked first here so that a key is refused
        # for what it is before its body is read.
        require_personal_sign_in(actor=principal, action="Signing out everywhere")
        serializer = LogoutAllIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        tokens.logout_all(
            principal=principal,
            ip_address=client_ip(request),
            api_keys=serializer.validated_data["api_keys"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class JwksApi(APIView):
    """The public signing keys (JWKS): the active key and retired keys still in grace."""

    permission_classes = [AllowAny]
    authentication_classes = []

    @extend_schema(responses={200: JwksOut}, auth=[])
    def get(self, request: Request) -> Response:
        response = Response(signing_keys.jwks_document())
        response["Cache-Control"] = "public, max-age=300"
        return response
