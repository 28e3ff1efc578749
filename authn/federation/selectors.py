"""Reads of identity providers and external identities the sign-in flow needs.

Same names and signatures as authn.identity_providers.selectors, so the flow can switch to
those with an import change.
"""

from __future__ import annotations

from accounts.models import User
from authn.models import ExternalIdentity, IdentityProvider


def identity_providers_enabled() -> list[IdentityProvider]:
    """The providers people may sign in with now, in slug order."""
    return list(IdentityProvider.objects.filter(enabled=True).order_by("slug"))


def identity_provider_get(*, slug: str) -> IdentityProvider | None:
    """The provider with this slug, enabled or not (callers check `enabled`)."""
    return IdentityProvider.objects.filter(slug=slug).first()


def external_identities_of(*, user: User) -> list[ExternalIdentity]:
    return list(
        ExternalIdentity.objects.filter(user=user).select_related("provider").order_by("created_at")
    )


def external_identity_find(*, provider: IdentityProvider, subject: str) -> ExternalIdentity | None:
    """The link of this provider's `sub`, with its user."""
    return (
        ExternalIdentity.objects.filter(provider=provider, subject=subject)
        .select_related("user")
        .first()
    )
