"""The API client and the verifier against a running server (tests/clients/live_server.py sets
the MICRO_LIVE_* environment; without MICRO_LIVE_URL these tests are skipped).

One walk through what a service does with the SDK: sign in, mint an API key and exchange it,
verify the token offline, read a user and a batch, grant and check access, survive a rotation
of the signing key, and see a revoked token refused through introspection."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from collections.abc import Iterator

import jwt
import pytest

from micro_client import contract
from micro_client.api import ApiError, ApiKey, ClientCredentials, MicroClient, Password
from micro_client.types import Permission
from micro_client.verifier import JwksCache, TokenVerifier

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("MICRO_LIVE_URL"), reason="MICRO_LIVE_URL is unset"),
]


ROTATION_WAIT_SECONDS = 45


def env(name: str) -> str:
    return os.environ[f"MICRO_LIVE_{name}"]


@pytest.fixture(scope="module")
def url() -> str:
    return env("URL").rstrip("/")


@pytest.fixture(scope="module")
def user(url: str) -> Iterator[MicroClient]:
    """The ordinary user, signed in with the password."""
    with MicroClient(url, credentials=Password(env("USERNAME"), env("PASSWORD"))) as client:
        yield client


@pytest.fixture(scope="module")
def admin(url: str) -> Iterator[MicroClient]:
    """The service account holding `api_admin`, with its OAuth client's credentials."""
    credentials = ClientCredentials(env("CLIENT_ID"), env("CLIENT_SECRET"))
    with MicroClient(url, credentials=credentials) as client:
        yield client


@pytest.fixture(scope="module")
def verifier(url: str) -> TokenVerifier:
    # A short refetch interval: the rotation below asks for the new key seconds after the first
    # fetch; the rate limit itself is the unit tests' business.
    jwks = JwksCache(url + contract.JWKS_PATH, min_refetch_interval=0.0)
    return TokenVerifier(issuer=url, audience=env("AUDIENCE"), jwks=jwks)


def exchanged(url: str, key: str) -> MicroClient:
    return MicroClient(url, credentials=ApiKey(key))


def kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def token_from_a_new_key(url: str, key: str, old_token: str) -> str:
    """A token signed after the rotation: the server's workers take up the new key within
    MICRO_SIGNING_KEY_REFRESH_SECONDS (30 s by default), so ask until one is."""
    deadline = time.monotonic() + ROTATION_WAIT_SECONDS
    while True:
        with exchanged(url, key) as service:
            token = service.token()
        if kid(token) != kid(old_token) or time.monotonic() > deadline:
            return token
        time.sleep(1)


def test_a_password_sign_in_reads_the_account(user: MicroClient) -> None:
    me = user.me()

    assert me["user"]["username"] == env("USERNAME")
    assert me["auth_method"] == "jwt"


def test_an_exchanged_api_key_reads_a_user_and_a_batch_and_its_token_verifies(
    url: str, user: MicroClient, verifier: TokenVerifier
) -> None:
    me = user.me()["user"]
    minted = user.api_keys.mint("live-read", [contract.PROFILE, contract.USERS_READ])
    with exchanged(url, minted["key"]) as service:
        principal = verifier.principal(service.token())
        assert str(principal.user_id) == me["id"]
        assert principal.username == me["username"]
        assert sorted(principal.scopes) == sorted([contract.PROFILE, contract.USERS_READ])

        assert service.users.get(me["id"])["username"] == me["username"]
        assert service.users.by_username(me["username"]) == service.users.batch_read([me["id"]])[0]
        again = service.users.batch_read([me["id"], str(uuid.uuid4())])  # revalidated, 304
        assert [found["id"] for found in again] == [me["id"]]
    user.api_keys.revoke(minted["id"])


def test_a_grant_is_seen_by_check_and_gone_once_revoked(
    user: MicroClient, admin: MicroClient
) -> None:
    user_id = user.me()["user"]["id"]
    document = uuid.uuid4().hex
    grant = admin.access.grant(
        object_type="document",
        object_id=document,
        subject_type="user",
        subject_id=user_id,
        read=True,
    )

    def check(permission: Permission) -> bool:
        return admin.access.check(
            object_type="document", object_id=document, permission=permission, subject_id=user_id
        )

    assert check("read") is True
    assert check("write") is False
    admin.access.revoke(grant["id"])
    assert check("read") is False


def test_a_token_signed_after_a_key_rotation_verifies_without_a_new_verifier(
    url: str, user: MicroClient, verifier: TokenVerifier
) -> None:
    minted = user.api_keys.mint("live-rotation", [contract.USERS_READ])
    with exchanged(url, minted["key"]) as before:
        old_token = before.token()
    verifier.principal(old_token)

    subprocess.run([env("ROTATE")], check=True, timeout=120)  # noqa: S603 - the harness's script

    new_token = token_from_a_new_key(url, minted["key"], old_token)
    assert kid(new_token) != kid(old_token)
    assert verifier.principal(new_token).username == env("USERNAME")
    user.api_keys.revoke(minted["id"])


def test_a_revoked_token_is_refused_through_introspection(url: str, user: MicroClient) -> None:
    # Written by the other part of this work (micro_client.introspection); imported here so
    # that the rest of the module runs without it.
    from micro_client.introspection import Introspector

    introspector = Introspector(
        url + "/o/introspect/",
        client_id=env("CLIENT_ID"),
        client_secret=env("CLIENT_SECRET"),
        cache_seconds=0,
    )
    minted = user.api_keys.mint("live-revoke", [contract.USERS_READ])
    with exchanged(url, minted["key"]) as service:
        token = service.token()
        assert introspector.is_active(token) is True

        user.api_keys.revoke(minted["id"])

        assert introspector.is_active(token) is False
        with pytest.raises(ApiError) as caught:
            service.users.get(user.me()["user"]["id"])
    assert caught.value.status == 401
