"""The project's URLs plus the two floors of bench/p5_floor.py that run in its own stack.

Both views validate the body with the token endpoint's serializer and verify the password
with Django's hasher against the bench user's hash (BENCH_FLOOR_HASH, Django's form), as a
sign-in does; the second also signs an access token as a sign-in does. Neither touches the
database: what a sign-in does besides these is what P5 measures beyond them.
"""

from __future__ import annotations

import os
import uuid

from django.contrib.auth.hashers import check_password
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.sign_in.serializers import TokenObtainIn
from authn.tokens.jwt import access_token_issue
from micro_platform.serializers import validated_input
from micro_platform.urls import urlpatterns as project_urlpatterns

ENCODED = os.environ["BENCH_FLOOR_HASH"]
SUBJECT = uuid.uuid4()


def _verified(request: Request) -> dict[str, str] | None:
    data = validated_input(TokenObtainIn, request.data)
    return data if check_password(data["password"], ENCODED) else None


class HashFloorApi(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        return Response({"verified": _verified(request) is not None})


class SignFloorApi(APIView):
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        data = _verified(request)
        if data is None:
            return Response({"verified": False}, status=401)
        issued = access_token_issue(
            subject=SUBJECT,
            username=data["username"],
            kind="human",
            scopes=frozenset(),
            group_ids=(),
            amr=("pwd",),
        )
        return Response(
            {"access_token": issued.token, "token_type": "Bearer", "expires_in": issued.expires_in}
        )


urlpatterns = [
    path("bench/floor/hash", HashFloorApi.as_view()),
    path("bench/floor/sign", SignFloorApi.as_view()),
    *project_urlpatterns,
]
