"""Identity providers API: `api_admin` lists, adds, reads, changes and deletes the upstream
OpenID Connect providers people may sign in with. Thin views over
authn.identity_providers.services, which check and audit every change; the client secret is
write-only."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from authn.identity_providers import admin_selectors as selectors
from authn.identity_providers import services
from authn.identity_providers.serializers import (
    IdentityProviderIn,
    IdentityProviderOut,
    IdentityProviderUpdateIn,
)
from authn.models import IdentityProvider
from micro_platform import scopes as sc
from micro_platform.errors import field_problem, validation_problem
from micro_platform.http import principal_of
from micro_platform.openapi import PAGE_PARAMETERS, page_of, problem
from micro_platform.pagination import paginated_response
from micro_platform.serializers import StrictSerializer

VIA = "api"
ADMIN_ONLY = (sc.API_ADMIN,)
NOT_FOUND = "`identity_provider_not_found`: no provider with this slug."
GROUP_NOT_FOUND = "`group_not_found`: `group_mapping` names a local group that does not exist."


class PageIn(StrictSerializer):
    cursor = serializers.CharField(required=False)
    page_size = serializers.CharField(required=False)


@contextmanager
def refusals_as_problems() -> Iterator[None]:
    """The service's refusals as problems: a field's form a 400 (`errors` per field), an
    unknown local group a 404 `group_not_found`, a taken slug a 409 `unique`."""
    try:
        yield
    except services.UnknownGroup as exc:
        raise field_problem(
            status_code=404, code="group_not_found", errors=exc.message_dict
        ) from exc
    except DjangoValidationError as exc:
        raise validation_problem(exc, "non_field_errors") from exc
    except services.Conflict as exc:
        raise field_problem(
            status_code=409, code="unique", errors={exc.field: [exc.message]}
        ) from exc


def valid(serializer_class: type[serializers.Serializer], data: Any) -> dict[str, Any]:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


def provider_or_404(slug: str) -> IdentityProvider:
    provider = selectors.identity_provider_detail(slug=slug)
    if provider is None:
        raise NotFound("No identity provider with this slug.", code="identity_provider_not_found")
    return provider


class IdentityProviderListApi(APIView):
    """The identity providers; adding one."""

    required_scopes = {"GET": ADMIN_ONLY, "POST": ADMIN_ONLY}

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        operation_id="identity_providers_list",
        responses={200: page_of(IdentityProviderOut, "IdentityProviderPage")},
    )
    def get(self, request: Request) -> Response:
        valid(PageIn, request.query_params.dict())
        rows = selectors.identity_providers_all()
        return paginated_response(self, request, rows, IdentityProviderOut)

    @extend_schema(
        request=IdentityProviderIn,
        responses={
            201: IdentityProviderOut,
            404: problem(GROUP_NOT_FOUND),
            409: problem("`unique`: another provider has this slug."),
        },
    )
    def post(self, request: Request) -> Response:
        """Register `redirect_uri` of the answer at the provider as the client's callback."""
        data = valid(IdentityProviderIn, request.data)
        with refusals_as_problems():
            created = services.identity_provider_create(
                actor=principal_of(request), via=VIA, values=data
            )
        body = IdentityProviderOut(provider_or_404(created.slug)).data
        return Response(body, status=status.HTTP_201_CREATED)


class IdentityProviderDetailApi(APIView):
    """One identity provider: read it, change it, delete it with every account's link to it."""

    required_scopes = {"GET": ADMIN_ONLY, "PATCH": ADMIN_ONLY, "DELETE": ADMIN_ONLY}

    @extend_schema(responses={200: IdentityProviderOut, 404: problem(NOT_FOUND)})
    def get(self, request: Request, slug: str) -> Response:
        return Response(IdentityProviderOut(provider_or_404(slug)).data)

    @extend_schema(
        request=IdentityProviderUpdateIn,
        responses={200: IdentityProviderOut, 404: problem(f"{NOT_FOUND} Or {GROUP_NOT_FOUND}")},
    )
    def patch(self, request: Request, slug: str) -> Response:
        """The fields given; a `client_secret` replaces the stored one ("" makes a public
        client). The slug never changes (`slug` is a 400)."""
        provider = provider_or_404(slug)
        data = valid(IdentityProviderUpdateIn, request.data)
        with refusals_as_problems():
            services.identity_provider_update(
                actor=principal_of(request), via=VIA, provider=provider, changes=data
            )
        return Response(IdentityProviderOut(provider_or_404(slug)).data)

    @extend_schema(responses={204: None, 404: problem(NOT_FOUND)})
    def delete(self, request: Request, slug: str) -> Response:
        """Deletes the provider and every account's link to it (people signed in through it
        keep their current sessions)."""
        services.identity_provider_delete(
            actor=principal_of(request), via=VIA, provider=provider_or_404(slug)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
