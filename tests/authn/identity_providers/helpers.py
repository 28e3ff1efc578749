"""Identity providers and links for the tests."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from authn.models import ExternalIdentity, IdentityProvider

ISSUER = "https://login.example.com"
SECRET = "s3cret-Value-never-shown"


def provider_create(slug: str = "acme", **fields: Any) -> IdentityProvider:
    secret = fields.pop("client_secret", "")
    provider = IdentityProvider(
        slug=slug,
        display_name=fields.pop("display_name", slug.title()),
        issuer=fields.pop("issuer", ISSUER),
        client_id=fields.pop("client_id", f"{slug}-client"),
        scopes=fields.pop("scopes", ["openid", "email", "profile"]),
        **fields,
    )
    provider.set_client_secret(secret)
    provider.save()
    return provider


def link(user: User, provider: IdentityProvider, subject: str = "sub-1") -> ExternalIdentity:
    return ExternalIdentity.objects.create(
        provider=provider, user=user, subject=subject, email=user.email
    )
