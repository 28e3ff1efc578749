"""Reads of identity providers for their administration (API, command, console): each row with
how many accounts are linked to it (`identity_count`), one query per list."""

from __future__ import annotations

import uuid

from django.db.models import Count, QuerySet

from authn.models import ExternalIdentity, IdentityProvider


def identity_providers_all() -> QuerySet[IdentityProvider]:
    return IdentityProvider.objects.annotate(identity_count=Count("identities"))


def identity_provider_detail(*, slug: str) -> IdentityProvider | None:
    return identity_providers_all().filter(slug=slug).first()


def external_identity_of_user(
    *, user_id: uuid.UUID, identity_id: object
) -> ExternalIdentity | None:
    """One of the user's links (None when the id is not one of theirs)."""
    try:
        parsed = uuid.UUID(str(identity_id))
    except ValueError:
        return None
    return (
        ExternalIdentity.objects.select_related("provider", "user")
        .filter(pk=parsed, user_id=user_id)
        .first()
    )
