"""Reads of identity providers and accounts' links to them that the sign-in flow relies on."""

from __future__ import annotations

from accounts.models import User
from authn.models import ExternalIdentity, IdentityProvider


def identity_providers_enabled() -> list[IdentityProvider]:
    """The providers offered on the sign-in pages, by slug."""
    return list(IdentityProvider.objects.filter(enabled=True).order_by("slug"))


def identity_provider_get(*, slug: str) -> IdentityProvider | None:
    """The provider with this slug, enabled or not (None when there is none)."""
    return IdentityProvider.objects.filter(slug=slug).first()


def external_identities_of(*, user: User) -> list[ExternalIdentity]:
    """The user's links to providers, oldest first, each with its provider."""
    return list(
        ExternalIdentity.objects.filter(user=user)
        .select_related("provider")
        .order_by("created_at", "id")
    )


def external_identity_find(*, provider: IdentityProvider, subject: str) -> ExternalIdentity | None:
    """The link of this provider's `sub`, with its user."""
    return (
        ExternalIdentity.objects.filter(provider=provider, subject=subject)
        .select_related("user")
        .first()
    )
