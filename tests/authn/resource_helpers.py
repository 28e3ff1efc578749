"""Helpers for the tests of tokens for one service (resource indicators): a registered
`billing` service, a user holding its scopes through a role, and reading a token's claims."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from django.conf import settings

from accounts.models import User
from authn.tokens.signing_keys import key_ring
from permissions import catalogue
from permissions.models import Role, RoleAssignment, Scope, Service
from tests.factories import GroupFactory, MembershipFactory

BILLING_AUDIENCE = "https://billing.example"
BILLING_READ = "billing:read"
BILLING_WRITE = "billing:invoices.write"


@pytest.fixture
def billing(db: Any) -> Iterator[Service]:
    """The registered service `billing` with two scopes; this process's registry snapshot is
    dropped after the test, whose rows are rolled back."""
    service = Service.objects.create(
        name="billing", audience=BILLING_AUDIENCE, description="Invoices and payments."
    )
    Scope.objects.create(service=service, name=BILLING_READ, description="Read invoices.")
    Scope.objects.create(service=service, name=BILLING_WRITE, description="Write invoices.")
    yield service
    catalogue.forget()


def give_billing_role(user: User, scopes: tuple[str, ...] = (BILLING_READ,)) -> Role:
    """`user` holds `scopes` through a role assigned to it."""
    role = Role.objects.create(name=f"clerk-{user.username}", scopes=list(scopes))
    RoleAssignment.objects.create(role=role, subject_type="user", subject_id=user.pk)
    return role


def give_billing_group(user: User, scopes: tuple[str, ...] = (BILLING_READ,)) -> None:
    """`user` holds `scopes` through a group it is a member of."""
    MembershipFactory(user=user, group=GroupFactory(scopes=list(scopes)))


def claims_of(access_token: str, audience: str = BILLING_AUDIENCE) -> dict[str, Any]:
    """The verified claims of one of this service's access tokens for `audience`."""
    _, private_key = key_ring.signing_key()
    return jwt.decode(
        access_token,
        private_key.public_key(),
        algorithms=["RS256"],
        audience=audience,
        issuer=settings.MICRO_ISSUER,
    )


def default_claims(access_token: str) -> dict[str, Any]:
    return claims_of(access_token, settings.MICRO_TOKEN_AUDIENCE)
