"""A downstream service verifying tokens for itself: micro_client's verifier configured with
its own audience accepts the tokens issued for it (`resource`) and no other."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from accounts.models import User
from micro_client.verifier import InvalidToken, JwksCache, TokenVerifier
from tests.authn.helpers import JWKS_URL, password_login
from tests.authn.resource_helpers import (
    BILLING_AUDIENCE,
    BILLING_READ,
    billing,  # noqa: F401 - a fixture
    give_billing_role,
)

pytestmark = pytest.mark.usefixtures("billing")


def fetch(url: str, timeout: float) -> Any:
    return Client().get(JWKS_URL).json()


def verifier_for(audience: str) -> TokenVerifier:
    jwks = JwksCache(settings.MICRO_ISSUER + JWKS_URL, fetch=fetch)
    return TokenVerifier(issuer=settings.MICRO_ISSUER, audience=audience, jwks=jwks)


def test_the_billing_verifier_accepts_a_billing_token_and_refuses_a_default_one(
    user: User, password: str
) -> None:
    give_billing_role(user)
    billing_verifier = verifier_for(BILLING_AUDIENCE)
    for_billing = password_login(user, password, resource="billing")["access_token"]
    principal = billing_verifier.principal(for_billing)
    assert principal.user_id == user.pk
    assert principal.has_scope(BILLING_READ)
    assert not principal.has_scope("users:read")
    with pytest.raises(InvalidToken):
        billing_verifier.principal(password_login(user, password)["access_token"])


def test_the_default_verifier_refuses_a_billing_token(user: User, password: str) -> None:
    give_billing_role(user)
    for_billing = password_login(user, password, resource="billing")["access_token"]
    with pytest.raises(InvalidToken):
        verifier_for(settings.MICRO_TOKEN_AUDIENCE).principal(for_billing)
