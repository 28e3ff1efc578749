"""The token endpoint's password sign-in."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.sign_in import services as sign_in
from authn.sign_in.errors import SIGN_IN_FAILURES, sign_in_problem
from authn.sign_in.serializers import TokenObtainIn
from authn.tokens import services as tokens
from authn.tokens.apis import pair_response
from authn.tokens.resources import (
    InvalidTarget,
    invalid_scope_problem,
    invalid_target_problem,
    resource_service,
)
from authn.tokens.serializers import TokenPairOut
from micro_platform.http import client_ip
from micro_platform.openapi import problem
from micro_platform.serializers import validated_input


class TokenObtainApi(APIView):
    """Exchanges a username (or email) and password for an access and a refresh token."""

    permission_classes = [AllowAny]

    @extend_schema(
        request=TokenObtainIn,
        responses={
            200: TokenPairOut,
            400: problem("Invalid input (`errors` holds field messages)."),
            403: problem(
                "`invalid_scope` (unknown, not held, or not owned by the `resource`);"
                " `invalid_target` (`resource` names no registered service)."
            ),
            401: problem(
                "`invalid_credentials` (unknown user and wrong password alike), "
                "`mfa_required` (the account has MFA and no `otp` was given), `mfa_invalid`."
            ),
            429: problem("Locked out or throttled; `Retry-After` says for how long."),
        },
    )
    def post(self, request: Request) -> Response:
        data = validated_input(TokenObtainIn, request.data)
        try:
            resource = resource_service(data.get("resource"))
        except InvalidTarget as exc:
            raise invalid_target_problem(exc) from exc
        try:
            pair = sign_in.token_obtain_with_password(
                username=data["username"],
                password=data["password"],
                scope=data.get("scope"),
                ip_address=client_ip(request),
                otp=data.get("otp"),
                resource=resource,
            )
        except SIGN_IN_FAILURES as exc:
            raise sign_in_problem(exc) from exc
        except tokens.InvalidScope as exc:
            raise invalid_scope_problem(str(exc)) from exc
        return pair_response(pair)
