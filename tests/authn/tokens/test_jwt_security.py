"""Access-token verification against RFC 8725 attacks, and the JWKS."""

from __future__ import annotations

import hashlib
import hmac
import io
import socket
import time
import urllib.request
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from jwt.algorithms import RSAAlgorithm

from authn.models import SigningKey
from authn.tokens import signing_keys
from authn.tokens.signing_keys import key_ring
from tests.authn.helpers import (
    JWKS_URL,
    ME_URL,
    assemble,
    assemble_rs256,
    bearer_client,
    forge,
    me_status,
    password_login,
    public_key_pem,
    signing_input,
    valid_claims,
)
from tests.conftest import token_for

PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}


def assert_rejected(token: str) -> None:
    """The token is refused at /api/v1/me with a 401 problem and a Bearer challenge."""
    response = bearer_client(token).get(ME_URL)
    assert response.status_code == 401, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert response.json()["code"] == "invalid_token"


def _is_local(address: Any) -> bool:
    if isinstance(address, str | bytes):  # a Unix socket path
        return True
    return str(address[0]) in {"127.0.0.1", "::1", "localhost"}


@pytest.fixture
def network_calls(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Records (and blocks) every outbound network attempt; the DB and cache stay reachable."""
    calls: list[Any] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(sock: socket.socket, address: Any) -> Any:
        if not _is_local(address):
            calls.append(("connect", address))
            raise OSError("network access blocked by the test")
        return real_connect(sock, address)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if not _is_local((host,)):
            calls.append(("getaddrinfo", host))
            raise OSError("network access blocked by the test")
        return real_getaddrinfo(host, *args, **kwargs)

    def urlopen(url: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(("urlopen", url))
        raise OSError("network access blocked by the test")

    def session_request(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(("requests", url))
        raise OSError("network access blocked by the test")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    monkeypatch.setattr(requests.Session, "request", session_request)
    return calls


@pytest.fixture
def attacker_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_forged_token_with_genuine_header_and_claims_is_accepted(user):
    # The control for every rejection below: the helpers forge tokens the service accepts.
    response = bearer_client(forge(valid_claims(user))).get(ME_URL)

    assert response.status_code == 200
    assert response.json()["user"]["id"] == str(user.pk)


# --- 1. alg none ---------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_with_empty_signature_is_rejected(user, alg):
    kid, _ = key_ring.signing_key()
    token = assemble({"alg": alg, "typ": "at+jwt", "kid": kid}, valid_claims(user))

    assert token.endswith(".")
    assert_rejected(token)


# --- 2. key confusion ------------------------------------------------------------------------


def test_hs256_signed_with_our_public_key_as_hmac_secret_is_rejected(user):
    kid, _ = key_ring.signing_key()
    header = {"alg": "HS256", "typ": "at+jwt", "kid": kid}
    claims = valid_claims(user)
    signature = hmac.new(public_key_pem(), signing_input(header, claims), hashlib.sha256).digest()

    assert_rejected(assemble(header, claims, signature))


# --- 3. algorithms outside the allowlist -----------------------------------------------------


@pytest.mark.parametrize("algorithm", ["RS512", "RS384", "PS256"])
def test_valid_signature_by_our_key_with_disallowed_algorithm_is_rejected(user, algorithm):
    token = forge(valid_claims(user), algorithm=algorithm)

    _, private_key = key_ring.signing_key()
    verified = jwt.decode(
        token,
        private_key.public_key(),
        algorithms=[algorithm],
        audience=settings.MICRO_TOKEN_AUDIENCE,
    )
    assert verified["sub"] == str(user.pk)  # the signature itself is genuine
    assert_rejected(token)


# --- 4. key material named by the token ------------------------------------------------------


def test_embedded_jwk_header_is_rejected_without_using_that_key(user, attacker_key, network_calls):
    attacker_jwk = RSAAlgorithm.to_jwk(attacker_key.public_key(), as_dict=True)
    token = forge(
        valid_claims(user), key=attacker_key, kid="attacker", headers={"jwk": attacker_jwk}
    )

    assert_rejected(token)
    assert network_calls == []


def test_embedded_jwk_header_is_rejected_even_when_signed_by_our_key(user, network_calls):
    _, private_key = key_ring.signing_key()
    our_jwk = RSAAlgorithm.to_jwk(private_key.public_key(), as_dict=True)

    assert_rejected(forge(valid_claims(user), headers={"jwk": our_jwk}))
    assert network_calls == []


@pytest.mark.parametrize(
    "header",
    [
        {"jku": "https://attacker.example/jwks.json"},
        {"x5u": "https://attacker.example/cert.pem"},
        {"jku": "http://169.254.169.254/latest/meta-data/"},
        {"x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]},
    ],
    ids=["jku", "x5u", "jku-metadata", "x5c"],
)
def test_header_pointing_at_external_keys_is_rejected_and_nothing_is_fetched(
    user, attacker_key, network_calls, header
):
    attacker_signed = forge(valid_claims(user), key=attacker_key, kid="attacker", headers=header)
    our_signed = forge(valid_claims(user), headers=header)

    assert_rejected(attacker_signed)
    assert_rejected(our_signed)
    assert network_calls == []


def test_network_guard_records_an_outbound_fetch(network_calls):
    # Proves the guard used above would notice a fetch.
    with pytest.raises(OSError):
        urllib.request.urlopen("https://attacker.example/jwks.json")

    assert network_calls == [("urlopen", "https://attacker.example/jwks.json")]


# --- 5. hostile kid values -------------------------------------------------------------------


@pytest.mark.parametrize(
    "kid",
    [
        "unknown-kid",
        "../../dev/null",
        "/dev/null",
        "' OR 1=1 --",
        "'; DROP TABLE authn_signingkey; --",
        "%00",
        "k" * 65,
        "",
    ],
)
def test_hostile_string_kid_is_rejected_with_401(user, kid):
    assert_rejected(forge(valid_claims(user), kid=kid))
    assert SigningKey.objects.filter(status=SigningKey.Status.ACTIVE).count() == 1


@pytest.mark.parametrize("kid", [1, 0, ["kid"], {"kid": "x"}, True, 1.5, None])
def test_non_string_kid_is_rejected_with_401(user, kid):
    header = {"alg": "RS256", "typ": "at+jwt", "kid": kid}

    assert_rejected(assemble_rs256(header, valid_claims(user)))


def test_missing_kid_is_rejected(user):
    _, private_key = key_ring.signing_key()
    token = jwt.encode(
        valid_claims(user), private_key, algorithm="RS256", headers={"typ": "at+jwt"}
    )

    assert "kid" not in jwt.get_unverified_header(token)
    assert_rejected(token)


def test_flood_of_unknown_kids_does_not_reread_keys_each_time(
    user, django_assert_max_num_queries, monkeypatch
):
    # The key ring's clock stands still, so the test does not depend on how fast the machine
    # sends the 20 requests: one forced re-read at most, however many unknown kids arrive.
    monkeypatch.setattr(signing_keys, "time", SimpleNamespace(monotonic=lambda: 10_000.0))
    key_ring.invalidate()
    tokens = [forge(valid_claims(user), kid=f"bogus-{n}") for n in range(20)]
    bearer_client(forge(valid_claims(user))).get(ME_URL)  # warm the key ring

    with django_assert_max_num_queries(1):
        for token in tokens:
            assert me_status(token) == 401


# --- 6. time claims --------------------------------------------------------------------------


def test_expired_token_is_rejected(user):
    now = int(time.time())

    assert_rejected(forge(valid_claims(user, iat=now - 700, exp=now - 100)))


def test_token_expired_one_second_ago_is_rejected(user):
    now = int(time.time())

    assert_rejected(forge(valid_claims(user, iat=now - 600, exp=now - 1)))


def test_token_not_yet_valid_is_rejected(user):
    now = int(time.time())

    assert_rejected(forge(valid_claims(user, nbf=now + 300)))


@pytest.mark.parametrize("claim", ["exp", "iat", "jti", "sub", "iss", "aud"])
def test_token_missing_a_required_claim_is_rejected(user, claim):
    assert_rejected(forge(valid_claims(user, **{claim: None})))


# --- 7. audience and issuer ------------------------------------------------------------------


@pytest.mark.parametrize("aud", ["another-service", ["another-service"], "", "MICRO"])
def test_wrong_audience_is_rejected(user, aud):
    assert_rejected(forge(valid_claims(user, aud=aud)))


def test_missing_audience_is_rejected(user):
    claims = valid_claims(user, aud=None)

    assert "aud" not in claims
    assert_rejected(forge(claims))


@pytest.mark.parametrize("iss", ["https://evil.example", settings.MICRO_ISSUER + "/", ""])
def test_wrong_issuer_is_rejected(user, iss):
    assert_rejected(forge(valid_claims(user, iss=iss)))


# --- 8. token-type confusion -----------------------------------------------------------------


def test_refresh_token_presented_as_access_token_is_rejected(user, password):
    pair = password_login(user, password)

    assert pair["refresh_token"].startswith("mrt_")
    assert_rejected(pair["refresh_token"])


def test_id_token_signed_by_our_key_is_rejected_as_access_token(user):
    now = int(time.time())
    id_token = forge(
        {
            "iss": settings.MICRO_ISSUER,
            "sub": str(user.pk),
            "aud": "some-oauth-client-id",
            "exp": now + 300,
            "iat": now,
            "auth_time": now,
            "nonce": "n-0S6_WzA2Mj",
            "jti": "id-token-jti",
        },
        headers={"typ": "JWT"},
    )

    assert jwt.get_unverified_header(id_token)["typ"] == "JWT"
    assert_rejected(id_token)


def test_id_token_shaped_token_with_our_audience_but_typ_jwt_is_rejected(user):
    # Even with every claim of an access token, only `typ: at+jwt` is accepted (RFC 9068).
    assert_rejected(forge(valid_claims(user), headers={"typ": "JWT"}))


def test_token_without_typ_header_is_rejected(user):
    kid, _ = key_ring.signing_key()

    assert_rejected(assemble_rs256({"alg": "RS256", "kid": kid}, valid_claims(user)))


# --- 9. psychic signatures -------------------------------------------------------------------


def test_ecdsa_zero_signature_is_rejected(user):
    kid, _ = key_ring.signing_key()
    token = assemble({"alg": "ES256", "typ": "at+jwt", "kid": kid}, valid_claims(user), b"\0" * 64)

    assert token.rsplit(".", 1)[1] == "A" * 86
    assert_rejected(token)


def test_es256_token_signed_by_an_attacker_ec_key_is_rejected(user):
    attacker = ec.generate_private_key(ec.SECP256R1())

    assert_rejected(forge(valid_claims(user), key=attacker, algorithm="ES256", kid="attacker"))


# --- 10. garbage and oversized tokens --------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "..",
        "...",
        "eyJhbGciOiJSUzI1NiJ9.%%%.$$$",
        "eyJ.eyJ.eyJ",
        "e30.e30.",
        "bnVsbA.bnVsbA.",  # "null" header and payload
        "WzFd.WzFd.",  # "[1]" header and payload
    ],
)
def test_garbage_token_is_rejected_with_401(db, token):
    assert_rejected(token)


@pytest.mark.parametrize("payload", [[1, 2], "a string", 42, None, {}])
def test_signed_token_whose_payload_is_not_a_claim_set_is_rejected(db, payload):
    kid, _ = key_ring.signing_key()

    assert_rejected(assemble_rs256({"alg": "RS256", "typ": "at+jwt", "kid": kid}, payload))


def test_64_kb_token_is_rejected_quickly(user):
    filler = {"pad": "x" * 64 * 1024}
    big_jwt = forge(valid_claims(user, **filler))
    assert len(big_jwt) > 64 * 1024

    for token in (big_jwt, "A" * 64 * 1024):
        started = time.perf_counter()
        assert_rejected(token)
        assert time.perf_counter() - started < 0.5


# --- 11. JWKS and rotation -------------------------------------------------------------------


def jwks(client: Any) -> dict[str, Any]:
    response = client.get(JWKS_URL)
    assert response.status_code == 200
    return response.json()


def test_jwks_publishes_only_public_rsa_members_with_kid_alg_use(anon_client, user):
    key_ring.signing_key()

    keys = jwks(anon_client)["keys"]

    assert len(keys) == 1
    for key in keys:
        assert not PRIVATE_JWK_MEMBERS & set(key)
        assert key["kty"] == "RSA"
        assert key["kty"] != "oct"
        assert key["alg"] == "RS256"
        assert key["use"] == "sig"
        assert isinstance(key["kid"], str) and key["kid"]
        assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}


def test_jwks_key_verifies_a_token_issued_by_the_api(anon_client, user, password):
    access_token = password_login(user, password)["access_token"]
    kid = jwt.get_unverified_header(access_token)["kid"]

    published = {key["kid"]: key for key in jwks(anon_client)["keys"]}
    public_key = jwt.PyJWK(published[kid]).key
    claims = jwt.decode(
        access_token,
        public_key,
        algorithms=["RS256"],
        audience=settings.MICRO_TOKEN_AUDIENCE,
        issuer=settings.MICRO_ISSUER,
    )

    assert claims["sub"] == str(user.pk)


def test_jwks_is_public_and_cacheable(anon_client, db):
    key_ring.signing_key()

    response = anon_client.get(JWKS_URL)

    assert response.status_code == 200
    assert "public" in response["Cache-Control"]


def rotate(django_capture_on_commit_callbacks: Any) -> str:
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("rotate_signing_key", stdout=out)
    return out.getvalue()


def test_rotation_keeps_old_kid_published_and_old_tokens_valid(
    anon_client, user, django_capture_on_commit_callbacks
):
    old_kid, _ = key_ring.signing_key()
    old_token = token_for(user)

    output = rotate(django_capture_on_commit_callbacks)

    new_key = SigningKey.objects.get(status=SigningKey.Status.ACTIVE)
    assert new_key.kid != old_kid
    assert f"kid={new_key.kid}" in output
    assert {key["kid"] for key in jwks(anon_client)["keys"]} == {old_kid, new_key.kid}
    assert jwt.get_unverified_header(old_token)["kid"] == old_kid
    assert me_status(old_token) == 200


def test_rotation_signs_new_tokens_with_the_new_key(user, django_capture_on_commit_callbacks):
    old_kid, _ = key_ring.signing_key()

    rotate(django_capture_on_commit_callbacks)
    new_token = token_for(user)

    new_kid = SigningKey.objects.get(status=SigningKey.Status.ACTIVE).kid
    assert jwt.get_unverified_header(new_token)["kid"] == new_kid != old_kid
    assert me_status(new_token) == 200


def test_retired_key_stays_published_at_least_as_long_as_its_tokens_live(
    user, django_capture_on_commit_callbacks
):
    old_kid, _ = key_ring.signing_key()
    before = timezone.now()

    rotate(django_capture_on_commit_callbacks)

    retired = SigningKey.objects.get(kid=old_kid)
    assert retired.status == SigningKey.Status.RETIRED
    assert retired.publish_until is not None
    assert retired.publish_until >= before + timedelta(seconds=settings.MICRO_ACCESS_TOKEN_TTL)


def test_retired_key_past_publish_until_is_dropped_from_jwks_and_its_tokens_rejected(
    anon_client, user, django_capture_on_commit_callbacks
):
    old_kid, _ = key_ring.signing_key()
    old_token = token_for(user)
    rotate(django_capture_on_commit_callbacks)
    SigningKey.objects.filter(kid=old_kid).update(
        publish_until=timezone.now() - timedelta(seconds=1)
    )
    key_ring.invalidate()  # what the periodic refresh (MICRO_SIGNING_KEY_REFRESH_SECONDS) does

    assert old_kid not in {key["kid"] for key in jwks(anon_client)["keys"]}
    assert_rejected(old_token)
