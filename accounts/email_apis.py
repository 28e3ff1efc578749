"""Self sign-up over the API: public, throttled per client IP."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import email_flows, services
from accounts.api_rules import password_problem
from accounts.apis import conflict_error
from accounts.serializers import SignupIn, UserPrivateOut
from micro_platform.http import client_ip
from micro_platform.openapi import problem


def throttled(exc: email_flows.RateLimited) -> Throttled:
    return Throttled(wait=exc.retry_after, detail="Too many requests; retry later.")


def signup_closed() -> PermissionDenied:
    return PermissionDenied("Self sign-up is closed on this service.", code="signup_closed")


class SignupApi(APIView):
    """Creates an account for anyone when `MICRO_SIGNUP_OPEN` is on, and emails a
    verification link. Closed → 403 `signup_closed`. A taken username or email → 409
    `unique`, as for `POST /api/v1/users` (throttled per client IP)."""

    permission_classes = [AllowAny]  # public by design; the service checks MICRO_SIGNUP_OPEN

    @extend_schema(
        request=SignupIn,
        responses={
            201: UserPrivateOut,
            403: problem("Self sign-up is closed (`signup_closed`)."),
            409: problem("`unique`: the username or email address belongs to another account."),
            429: problem("Too many sign-ups from this address; see `Retry-After`."),
        },
    )
    def post(self, request: Request) -> Response:
        if not email_flows.signup_open():  # before parsing: a closed endpoint answers one way
            raise signup_closed()
        serializer = SignupIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            user = email_flows.user_signup(
                **serializer.validated_data, ip_address=client_ip(request)
            )
        except email_flows.SignupClosed as exc:
            raise signup_closed() from exc
        except email_flows.RateLimited as exc:
            raise throttled(exc) from exc
        except DjangoValidationError as exc:
            raise password_problem(exc, "password") from exc
        except services.Conflict as exc:
            raise conflict_error(exc) from exc
        return Response(UserPrivateOut(user).data, status=status.HTTP_201_CREATED)
