"""API keys and the API-key token exchange (docs/api-keys.md): thin views over the services."""

from __future__ import annotations

from collections.abc import Collection

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import user_get
from authn.api_keys import selectors
from authn.api_keys import services as api_keys
from authn.api_keys.authentication import ApiKeyAuthentication
from authn.api_keys.serializers import (
    ApiKeyCreateIn,
    ApiKeyOut,
    ApiKeyRotateIn,
    ExchangedTokenOut,
    MintedKeyOut,
    TokenExchangeIn,
)
from authn.models import ApiKey
from authn.tokens.resources import (
    InvalidTarget,
    invalid_scope_problem,
    invalid_target_problem,
    resource_service,
)
from micro_platform import scopes as scope_catalogue
from micro_platform.errors import Problem, validation_problem
from micro_platform.http import client_ip, no_store, principal_of
from micro_platform.identity import Principal
from micro_platform.openapi import PAGE_PARAMETERS, page_of, problem
from micro_platform.pagination import CursorPage
from permissions import catalogue as registry


class NewestFirst(CursorPage):
    ordering = ("-created_at", "-id")


def check_within_credential(principal: Principal, scopes: Collection[str]) -> None:
    """A credential never mints a key stronger than itself (a read-only key minting a
    `users:write` key for its owner would be an escalation)."""
    beyond = sorted(frozenset(scopes) - registry.expand(principal.scopes))
    if beyond:
        raise invalid_scope_problem(
            f"Beyond the calling credential's scopes: {', '.join(beyond)}.", "scopes"
        )


def owned_key_or_404(principal: Principal, key_id: str, *, admin_may: bool) -> ApiKey:
    """The caller's key (or, where `admin_may`, any key for `api_admin`); else 404."""
    try:
        if admin_may and principal.is_admin:
            return selectors.api_key_get(key_id=key_id)
        return selectors.api_key_get_owned(key_id=key_id, owner_id=principal.user_id)
    except ApiKey.DoesNotExist as exc:
        raise NotFound("No API key with this id.", code="api_key_not_found") from exc


class ApiKeyListApi(APIView):
    """Lists the caller's keys (no secrets) or mints a new one (its key is shown once)."""

    required_scopes = {"GET": (scope_catalogue.PROFILE,), "POST": (scope_catalogue.PROFILE,)}

    @extend_schema(
        parameters=[
            OpenApiParameter("user_id", str, description="Another user's keys (`api_admin`)."),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: page_of(ApiKeyOut, "ApiKeyPage"),
            400: problem("A `page_size` that is not a positive integer, or an empty cursor."),
            404: problem("`user_id` names no user (`api_admin` only)."),
        },
    )
    def get(self, request: Request) -> Response:
        principal = principal_of(request)
        owner_id = principal.user_id
        requested = request.query_params.get("user_id")
        if requested is not None and requested != str(principal.user_id):
            if not principal.is_admin:
                raise Problem(
                    status_code=403,
                    code="insufficient_scope",
                    detail="Listing another user's keys needs `api_admin`.",
                )
            owner = user_get(user_id=requested)
            if owner is None:
                raise NotFound("No user with this id.", code="user_not_found")
            owner_id = owner.pk
        paginator = NewestFirst()
        page = paginator.paginate_queryset(
            selectors.api_keys_of(owner_id=owner_id), request, view=self
        )
        return paginator.get_paginated_response(ApiKeyOut(page, many=True).data)

    @extend_schema(
        request=ApiKeyCreateIn,
        responses={
            201: MintedKeyOut,
            400: problem(
                "Invalid input; scopes not held by the owner or (with `resource`) not owned by"
                " that service."
            ),
            403: problem(
                "`invalid_scope`: scopes beyond the calling credential (unknown ones"
                " included); `invalid_target`: `resource` names no registered service;"
                " `fresh_mfa_required`: `api_admin` keys need MFA in the last 15 min;"
                " `sign_in_required`: keys are minted by a person's sign-in, not an API key or a"
                " client's token; `email_unverified`: while sign-up is open, a self-signed-up"
                " account verifies its email address first."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = ApiKeyCreateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            resource_service(serializer.validated_data.get("resource"))
        except InvalidTarget as exc:
            raise invalid_target_problem(exc) from exc
        principal = principal_of(request)
        check_within_credential(principal, serializer.validated_data["scopes"])
        owner = user_get(user_id=principal.user_id)
        if owner is None:
            raise NotFound("The calling user no longer exists.", code="user_not_found")
        try:
            minted = api_keys.api_key_create(
                owner=owner, actor=principal, **serializer.validated_data
            )
        except DjangoValidationError as exc:
            raise validation_problem(exc, "non_field_errors") from exc
        return no_store(Response(MintedKeyOut(minted).data, status=status.HTTP_201_CREATED))


class ApiKeyDetailApi(APIView):
    """Revokes a key at once: the caller's own, or any user's for `api_admin`."""

    required_scopes = {"DELETE": (scope_catalogue.PROFILE,)}

    @extend_schema(responses={204: None, 404: problem("No such key (or not yours).")})
    def delete(self, request: Request, key_id: str) -> Response:
        principal = principal_of(request)
        api_key = owned_key_or_404(principal, key_id, admin_may=True)
        api_keys.api_key_revoke(api_key=api_key, actor=principal)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyRotateApi(APIView):
    """Mints a replacement of the caller's key; the old key expires after `grace_hours`."""

    required_scopes = {"POST": (scope_catalogue.PROFILE,)}

    @extend_schema(
        request=ApiKeyRotateIn,
        responses={
            201: MintedKeyOut,
            400: problem("Invalid `grace_hours`, or the key is revoked, expired or rotated."),
            403: problem(
                "`fresh_mfa_required`: `api_admin` keys need MFA in the last 15 min;"
                " `sign_in_required`: keys are rotated by a person's sign-in, not an API key or a"
                " client's token; `email_unverified`: while sign-up is open, a self-signed-up"
                " account verifies its email address first."
            ),
            404: problem("No such key (or not yours)."),
        },
    )
    def post(self, request: Request, key_id: str) -> Response:
        serializer = ApiKeyRotateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        principal = principal_of(request)
        api_key = owned_key_or_404(principal, key_id, admin_may=False)
        check_within_credential(principal, api_key.scopes)
        try:
            minted = api_keys.api_key_rotate(
                api_key=api_key, actor=principal, **serializer.validated_data
            )
        except DjangoValidationError as exc:
            raise validation_problem(exc, "non_field_errors") from exc
        return no_store(Response(MintedKeyOut(minted).data, status=status.HTTP_201_CREATED))


class TokenExchangeApi(APIView):
    """Exchanges an API key (in `Authorization` or `X-API-Key`) for a short-lived access token
    carrying the key's effective scopes; for one service when the key is bound to it or the
    optional body names a `resource`."""

    authentication_classes = [ApiKeyAuthentication]
    required_scopes = ()

    def accepts_api_key(self, request: Request, principal: Principal) -> bool:
        """Every key, bound or not: a bound key is exchanged for a token for its service."""
        return True

    @extend_schema(
        request=TokenExchangeIn,
        responses={
            200: ExchangedTokenOut,
            401: problem("No valid API key."),
            403: problem(
                "`invalid_target`: `resource` names no registered service, or another service"
                " than the one the key is bound to."
            ),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenExchangeIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            issued = api_keys.api_key_exchange(
                principal=principal_of(request),
                ip_address=client_ip(request),
                resource=resource_service(serializer.validated_data.get("resource")),
            )
        except InvalidTarget as exc:
            raise invalid_target_problem(exc) from exc
        data = {
            "access_token": issued.token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
            "scope": issued.scope,
        }
        return no_store(Response(ExchangedTokenOut(data).data))
