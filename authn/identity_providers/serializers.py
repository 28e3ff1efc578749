"""Input and output of the identity providers API. The input serializers state each value's
form (and so the schema's); authn.identity_providers.services checks them again, with the rules
no form can state (a local group exists, the slug is free)."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.validators import display_name_validator
from authn.identity_providers import services as idp
from authn.models import IdentityProvider
from micro_platform.serializers import StrictSerializer


def _pattern_field(
    pattern: str, message: str, *, max_length: int, **kwargs: Any
) -> serializers.CharField:
    return serializers.CharField(
        trim_whitespace=False,
        max_length=max_length,
        validators=[RegexValidator(pattern, message)],
        **kwargs,
    )


class OpenidScopesField(serializers.ListField):
    """The scopes to request: scope tokens, `openid` among them."""

    def __init__(self, **kwargs: Any) -> None:
        child = _pattern_field(
            idp.SCOPE_TOKEN_PATTERN,
            "A scope is a token of printable characters without spaces.",
            max_length=idp.SCOPE_MAX_LENGTH,
        )
        super().__init__(child=child, max_length=idp.MAX_SCOPES, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        scopes = super().to_internal_value(data)
        if "openid" not in scopes:
            raise serializers.ValidationError(
                "The scopes must include openid (this is an OpenID Connect sign-in).",
                code="openid_required",
            )
        return scopes


class OpenidScopesFieldExtension(OpenApiSerializerFieldExtension):
    """States in the request schema that the list holds `openid`: OpenAPI 3.0 has no
    `contains`, so as "not every item is something else"."""

    target_class = OpenidScopesField

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        mapped = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "request":
            mapped["not"] = {"items": {"not": {"type": "string", "enum": ["openid"]}}}
        return mapped


def _claim_field() -> serializers.CharField:
    return _pattern_field(
        idp.CLAIM_NAME_PATTERN,
        "A claim name is printable characters without spaces.",
        max_length=idp.CLAIM_NAME_MAX_LENGTH,
        required=False,
    )


class ClaimMappingIn(StrictSerializer):
    """Local field -> the upstream claim holding it; a field left out keeps the standard claim."""

    username = _claim_field()
    email = _claim_field()
    display_name = _claim_field()
    avatar = _claim_field()
    groups = _claim_field()

    def to_internal_value(self, data: Any) -> Any:
        return dict(super().to_internal_value(data))


class IdentityProviderIn(StrictSerializer):
    """A new provider: slug, issuer and client id required, the rest optional."""

    slug = _pattern_field(
        idp.SLUG_PATTERN,
        "A slug is 1-50 lower-case letters, digits and hyphens, starting with a letter or digit.",
        max_length=50,
    )
    display_name = serializers.CharField(
        max_length=idp.DISPLAY_NAME_MAX_LENGTH,
        required=False,
        allow_blank=True,
        validators=[display_name_validator],
        help_text="Shown on the sign-in button; defaults to the slug.",
    )
    issuer = _pattern_field(
        idp.ISSUER_PATTERN,
        "An issuer is an https URL (http only on 127.0.0.1, [::1] or localhost) without user"
        " info, query or fragment.",
        max_length=idp.ISSUER_MAX_LENGTH,
        help_text="The provider's issuer, exactly as its discovery document names it.",
    )
    client_id = serializers.CharField(max_length=idp.CLIENT_ID_MAX_LENGTH)
    client_secret = serializers.CharField(
        max_length=idp.CLIENT_SECRET_MAX_LENGTH,
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        write_only=True,
        help_text="Stored encrypted and never returned; empty (the default) for a public client.",
    )
    scopes = OpenidScopesField(required=False, help_text="Default: openid, email, profile.")
    enabled = serializers.BooleanField(required=False)
    create_accounts = serializers.BooleanField(
        required=False, help_text="Create an account on a first sign-in without a link."
    )
    allowed_email_domains = serializers.ListField(
        child=_pattern_field(
            idp.DOMAIN_PATTERN,
            "Not a domain name (e.g. example.com).",
            max_length=idp.DOMAIN_MAX_LENGTH,
        ),
        max_length=idp.MAX_DOMAINS,
        required=False,
        help_text="Only people with an email address in these domains (lower-cased); none: any.",
    )
    link_by_verified_email = serializers.BooleanField(required=False)
    enforces_mfa = serializers.BooleanField(required=False)
    use_userinfo = serializers.BooleanField(required=False)
    claim_mapping = ClaimMappingIn(required=False)
    group_mapping = serializers.DictField(
        child=serializers.CharField(
            max_length=idp.GROUP_NAME_MAX_LENGTH, trim_whitespace=False, allow_blank=True
        ),
        required=False,
        help_text="Upstream group name -> the name of an existing local group (else a 404"
        " `group_not_found`).",
    )


class IdentityProviderUpdateIn(IdentityProviderIn):
    """Any of the fields but the slug, which never changes (it is in the redirect URI)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        del self.fields["slug"]
        for field in self.fields.values():
            field.required = False

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "slug" in data:
            raise serializers.ValidationError(
                {"slug": ["The slug never changes: the redirect URI contains it."]},
                code="immutable",
            )
        return super().to_internal_value(data)


class IdentityProviderOut(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    display_name = serializers.CharField()
    issuer = serializers.CharField()
    client_id = serializers.CharField()
    has_client_secret = serializers.SerializerMethodField()
    scopes = serializers.ListField(child=serializers.CharField())
    enabled = serializers.BooleanField()
    create_accounts = serializers.BooleanField()
    allowed_email_domains = serializers.ListField(child=serializers.CharField())
    link_by_verified_email = serializers.BooleanField()
    enforces_mfa = serializers.BooleanField()
    use_userinfo = serializers.BooleanField()
    claim_mapping = serializers.DictField(child=serializers.CharField())
    group_mapping = serializers.DictField(child=serializers.CharField())
    redirect_uri = serializers.SerializerMethodField()
    identities = serializers.IntegerField(source="identity_count", help_text="Linked accounts.")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_has_client_secret(self, provider: IdentityProvider) -> bool:
        return bool(provider.client_secret_encrypted)

    @extend_schema_field(OpenApiTypes.URI)
    def get_redirect_uri(self, provider: IdentityProvider) -> str:
        """The callback URL to register at the provider."""
        return idp.redirect_uri(provider)
