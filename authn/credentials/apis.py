"""Ending credentials over the API: one token (revoke), or every sign-in of the caller."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.credentials import services as credentials
from authn.credentials.serializers import LogoutAllIn, TokenRevokeIn
from micro_platform import scopes as sc
from micro_platform.http import client_ip, principal_of
from micro_platform.openapi import problem
from micro_platform.sign_in import require_personal_sign_in


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
        credentials.token_revoke(
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
        credentials.logout_all(
            principal=principal,
            ip_address=client_ip(request),
            api_keys=serializer.validated_data["api_keys"],
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
