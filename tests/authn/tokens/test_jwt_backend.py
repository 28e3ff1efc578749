"""The token classes and backend on simplejwt: simplejwt decodes and checks, the backend picks
the key by `kid` behind a header check, the token classes require the service's claims."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import override_settings
from jwt.algorithms import RSAAlgorithm
from rest_framework_simplejwt.exceptions import ExpiredTokenError, TokenBackendError, TokenError

from accounts.models import User
from authn.tokens.jwt import (
    MAX_TOKEN_BYTES,
    InvalidAccessToken,
    MicroAccessToken,
    MicroUpstreamToken,
    access_token_decode,
)
from authn.tokens.signing_keys import key_ring
from tests.authn.helpers import forge, me_status, profile_token, valid_claims


def test_the_backend_picks_the_published_key_the_kid_names(user: User) -> None:
    kid, private_key = key_ring.signing_key()
    backend = MicroAccessToken().token_backend

    key = backend.get_verifying_key(forge(valid_claims(user)))

    assert key.public_numbers() == private_key.public_key().public_numbers()
    assert key is key_ring.verifying_key(kid)


def _other_key_jwk() -> dict[str, Any]:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return dict(RSAAlgorithm.to_jwk(other.public_key(), as_dict=True))


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda user: forge(valid_claims(user), kid="unknown"), id="unknown-kid"),
        pytest.param(
            lambda user: forge(valid_claims(user), headers={"typ": "user+jwt"}), id="other-typ"
        ),
        pytest.param(
            lambda user: forge(valid_claims(user), headers={"jwk": _other_key_jwk()}),
            id="embedded-jwk",
        ),
        pytest.param(
            lambda user: forge(valid_claims(user, pad="x" * MAX_TOKEN_BYTES)), id="oversized"
        ),
        pytest.param(lambda user: forge(valid_claims(user)).encode(), id="bytes"),
    ],
)
def test_the_backend_picks_no_key_for_a_token_that_is_not_one_of_ours(
    user: User, token: Any
) -> None:
    backend = MicroAccessToken().token_backend

    with pytest.raises(TokenBackendError):
        backend.get_verifying_key(token(user))


def test_an_access_token_gets_no_key_from_the_upstream_backend(user: User) -> None:
    backend = MicroUpstreamToken().token_backend

    with pytest.raises(TokenBackendError):
        backend.get_verifying_key(profile_token(user))


def test_an_expired_token_is_refused_by_simplejwts_decode(user: User) -> None:
    now = int(time.time())

    with pytest.raises(InvalidAccessToken) as refused:
        access_token_decode(forge(valid_claims(user, iat=now - 700, exp=now - 100)))

    assert isinstance(refused.value.__cause__, ExpiredTokenError)


@pytest.mark.parametrize("exp", [10**20, 2**63, 1e300, 253402300800])
def test_a_signed_token_with_an_expiry_no_date_can_hold_is_a_401(user: User, exp: Any) -> None:
    # PyJWT accepts these (they are numbers in the future); the date simplejwt makes of them
    # does not exist, which must be a refusal, not a server error.
    assert me_status(forge(valid_claims(user, exp=exp))) == 401


@pytest.mark.parametrize(
    "overrides",
    [{"iat": None}, {"sub": None}, {"iss": None}, {"aud": None}, {"sub": 7}, {"scope": ["a"]}],
    ids=["no-iat", "no-sub", "no-iss", "no-aud", "int-sub", "list-scope"],
)
def test_the_token_class_requires_the_service_claims(user: User, overrides: Any) -> None:
    token = MicroAccessToken()
    token.payload = valid_claims(user, **overrides)

    with pytest.raises(TokenError):
        token.verify()


def test_the_token_class_accepts_a_complete_claim_set(user: User) -> None:
    token = MicroAccessToken()
    token.payload = valid_claims(user)

    token.verify()


def test_unverified_decoding_is_refused(user: User) -> None:
    with pytest.raises(TokenError):
        MicroAccessToken(profile_token(user), verify=False)


def test_tokens_follow_the_audience_and_issuer_settings_of_the_moment(user: User) -> None:
    before = profile_token(user)
    settings = {"MICRO_TOKEN_AUDIENCE": "elsewhere", "MICRO_ISSUER": "https://id.example"}

    with override_settings(**settings):
        during = profile_token(user)
        claims = access_token_decode(during)
        with pytest.raises(InvalidAccessToken):
            access_token_decode(before)

    assert (claims["aud"], claims["iss"]) == ("elsewhere", "https://id.example")
    with pytest.raises(InvalidAccessToken):
        access_token_decode(during)
    assert access_token_decode(before)["sub"] == str(user.pk)
