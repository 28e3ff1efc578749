"""The verifier against tokens signed here and a JWKS served over loopback HTTP: what it
accepts, what it refuses, and how it reads claims into a principal."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import jwt
import pytest
from conftest import (
    AUDIENCE,
    ISSUER,
    KEYS_PATH,
    KID,
    UPSTREAM_AUDIENCE,
    USER_ID,
    Issuer,
    new_key,
)
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from micro_client import (
    InsecureUrl,
    InvalidToken,
    JwksCache,
    KeysUnavailable,
    TokenVerifier,
    UpstreamTokenVerifier,
    contract,
    principal_from_claims,
)
from micro_client.verifier import fetch_json, public_keys_from_jwks


def access_verifier(issuer: Issuer, **cache: Any) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=JwksCache(issuer.url, **cache))


def upstream_verifier(issuer: Issuer) -> UpstreamTokenVerifier:
    return UpstreamTokenVerifier(
        issuer=ISSUER, audience=UPSTREAM_AUDIENCE, jwks=JwksCache(issuer.url)
    )


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_built(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    """A compact JWS PyJWT would refuse to produce (e.g. `alg: none`)."""
    parts = (json.dumps(header).encode(), json.dumps(claims).encode(), signature)
    return ".".join(b64url(part) for part in parts)


# --- accepted -------------------------------------------------------------------------------


def test_an_access_token_verifies_over_http_into_its_principal(issuer: Issuer) -> None:
    group = str(uuid.uuid4())
    token = issuer.sign(issuer.claims(groups=[group], client_id=contract.CLI_CLIENT_ID))
    verifier = access_verifier(issuer)

    principal = verifier.principal(token)

    assert principal.user_id == uuid.UUID(USER_ID) and principal.username == "ada"
    assert principal.group_ids == (uuid.UUID(group),) and principal.kind == "user"
    assert principal.scopes == {contract.PROFILE, contract.USERS_READ}
    assert principal.is_personal_sign_in and not principal.via_gateway
    assert verifier.jwks.fetches == 1 and issuer.requests == 1


def test_keys_are_fetched_once_for_many_tokens(issuer: Issuer) -> None:
    verifier = access_verifier(issuer)

    for _ in range(5):
        verifier.claims(issuer.sign(issuer.claims()))

    assert issuer.requests == 1


def test_a_key_rotated_in_is_picked_up_by_one_refetch(issuer: Issuer) -> None:
    verifier = access_verifier(issuer)
    verifier.claims(issuer.sign(issuer.claims()))
    issuer.keys["key-2"] = new_key()
    issuer.published.add("key-2")

    assert verifier.principal(issuer.sign(issuer.claims(), kid="key-2")).username == "ada"
    assert issuer.requests == 2


def test_an_upstream_token_verifies_only_with_the_upstream_verifier(issuer: Issuer) -> None:
    claims = issuer.claims(
        aud=UPSTREAM_AUDIENCE, token_type=contract.UPSTREAM_TOKEN_TYPE_CLAIM, amr=[]
    )
    token = issuer.sign({**claims, "src_amr": ["pwd"]}, typ=contract.UPSTREAM_TOKEN_TYP)

    principal = upstream_verifier(issuer).principal(token)

    assert principal.via_gateway and principal.src_amr == ("pwd",) and principal.amr == ()
    assert not principal.is_personal_sign_in
    with pytest.raises(InvalidToken, match="not a at\\+jwt token"):
        access_verifier(issuer).claims(token)


def test_api_admin_implies_every_micro_scope_and_no_other(issuer: Issuer) -> None:
    token = issuer.sign(issuer.claims(scope=contract.API_ADMIN))

    principal = access_verifier(issuer).principal(token)

    assert all(principal.has_scope(scope) for scope in contract.ALL_SCOPES)
    assert not principal.has_scope("invoices:read")


# --- refused --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "another-service"},
        {"iss": "https://evil.example.com"},
        {"exp": 1_000_000_000},
        {"nbf": 4_000_000_000},
        *({claim: None} for claim in contract.REQUIRED_CLAIMS),
    ],
)
def test_wrong_or_missing_claims_are_refused(issuer: Issuer, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        access_verifier(issuer).claims(issuer.sign(issuer.claims(**overrides)))


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": float("inf")},
        {"exp": float("nan")},
        {"iat": float("inf")},
        {"nbf": float("-inf")},
        {"exp": "soon"},
        {"jti": 7, "sub": ["x"]},
    ],
)
def test_a_signed_token_with_a_claim_no_date_or_id_can_hold_is_invalid(
    issuer: Issuer, overrides: dict[str, Any]
) -> None:
    """Only the issuer's key signs these, but a verifier answers InvalidToken (a 401), never
    an exception its caller does not expect (a 500)."""
    with pytest.raises(InvalidToken):
        access_verifier(issuer).principal(issuer.sign(issuer.claims(**overrides)))


@pytest.mark.parametrize("typ", ["JWT", contract.UPSTREAM_TOKEN_TYP, None])
def test_a_token_of_another_type_is_refused(issuer: Issuer, typ: str | None) -> None:
    token = issuer.sign(issuer.claims(), typ=typ)  # type: ignore[arg-type]

    with pytest.raises(InvalidToken, match="not a at\\+jwt token"):
        access_verifier(issuer).claims(token)


def test_an_upstream_verifier_refuses_an_access_token(issuer: Issuer) -> None:
    token = issuer.sign(issuer.claims(aud=UPSTREAM_AUDIENCE))

    with pytest.raises(InvalidToken, match="not a user\\+jwt token"):
        upstream_verifier(issuer).claims(token)


@pytest.mark.parametrize("token_type", ["access", None])
def test_an_upstream_verifier_refuses_a_user_jwt_whose_signed_token_type_is_not_upstream(
    issuer: Issuer, token_type: str | None
) -> None:
    claims = issuer.claims(aud=UPSTREAM_AUDIENCE, token_type=token_type, amr=[])
    token = issuer.sign(claims, typ=contract.UPSTREAM_TOKEN_TYP)

    with pytest.raises(InvalidToken) as refused:
        upstream_verifier(issuer).claims(token)

    assert refused.value.reason == "type"


@pytest.mark.parametrize("leeway", [-1, 301])
def test_a_leeway_outside_0_to_300_seconds_is_refused_at_construction(leeway: int) -> None:
    with pytest.raises(ValueError, match="leeway"):
        TokenVerifier(issuer=ISSUER, audience=AUDIENCE, leeway=leeway)


def test_the_clock_given_judges_expiry(issuer: Issuer) -> None:
    token = issuer.sign(issuer.claims(exp=2_000_000_000, iat=1_999_999_000))
    jwks = JwksCache(issuer.url)

    def at(now: float) -> TokenVerifier:
        return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=jwks, clock=lambda: now)

    assert at(1_999_999_999).principal(token).username == "ada"
    with pytest.raises(InvalidToken) as refused:
        at(2_000_000_030).principal(token)
    assert refused.value.reason == "expired"


def test_alg_none_and_hs256_with_the_public_key_are_refused(issuer: Issuer) -> None:
    header = {"typ": contract.ACCESS_TOKEN_TYP, "kid": KID}
    unsigned = hand_built({**header, "alg": "none"}, issuer.claims())
    hs256 = hand_built({**header, "alg": "HS256"}, issuer.claims(), b"an HMAC of the public key")
    verifier = access_verifier(issuer)

    for token in (unsigned, hs256):
        with pytest.raises(InvalidToken, match="algorithm not allowed"):
            verifier.claims(token)
    assert issuer.requests == 0  # refused on the header, before any key lookup


@pytest.mark.parametrize("member", ["jku", "jwk", "x5u", "x5c", "crit"])
def test_a_header_naming_key_material_is_refused_without_fetching(
    issuer: Issuer, member: str
) -> None:
    token = issuer.sign(issuer.claims(), **{member: "https://evil.example.com/keys"})

    with pytest.raises(InvalidToken, match="external key material"):
        access_verifier(issuer).claims(token)
    assert issuer.requests == 0


def test_a_foreign_key_under_a_published_kid_is_refused(issuer: Issuer) -> None:
    forged = jwt.encode(
        issuer.claims(),
        new_key(),
        algorithm="RS256",
        headers={"typ": contract.ACCESS_TOKEN_TYP, "kid": KID},
    )

    with pytest.raises(InvalidToken, match="Signature verification failed"):
        access_verifier(issuer).claims(forged)


def test_an_unknown_kid_costs_one_refetch_then_is_refused(issuer: Issuer) -> None:
    verifier = access_verifier(issuer, min_refetch_interval=60)
    verifier.claims(issuer.sign(issuer.claims()))
    issuer.keys["unpublished"] = new_key()

    for _ in range(3):
        with pytest.raises(InvalidToken, match="unknown kid"):
            verifier.claims(issuer.sign(issuer.claims(), kid="unpublished"))

    assert issuer.requests == 2


def test_an_oversized_or_malformed_token_is_refused(issuer: Issuer) -> None:
    verifier = access_verifier(issuer)
    big = issuer.sign(issuer.claims(padding="x" * 9000))

    for token in (big, "not-a-jwt", "a.b", "!!!.e30.sig"):
        with pytest.raises(InvalidToken):
            verifier.claims(token)


def test_an_issuer_that_cannot_be_reached_is_keys_unavailable(issuer: Issuer) -> None:
    cache = JwksCache(issuer.url.replace(contract.JWKS_PATH, "/missing"))
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=cache)

    with pytest.raises(KeysUnavailable):
        verifier.claims(issuer.sign(issuer.claims()))


# --- where the keys come from: the issuer's discovery document -------------------------------

DISCOVERY_URL = ISSUER + contract.DISCOVERY_PATH
KEYS_URL = "https://keys.example.com/micro/jwks.json"
MOVED_URL = "https://keys.example.com/moved/jwks.json"


class FakeWeb:
    """The fetch hook: the issuer's discovery document and its JWKS by URL, no network."""

    def __init__(self, issuer: Issuer) -> None:
        self.issuer = issuer
        self.discovery: Any = {"issuer": ISSUER, "jwks_uri": KEYS_URL}  # None: unreachable
        self.jwks_urls = {KEYS_URL, MOVED_URL}
        self.urls: list[str] = []  # asked for, in order

    def __call__(self, url: str, timeout: float) -> Any:
        self.urls.append(url)
        if url == DISCOVERY_URL and self.discovery is not None:
            return self.discovery
        if url not in self.jwks_urls:
            raise KeysUnavailable(f"cannot fetch {url}")
        return self.issuer.jwks()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def discovering_verifier(web: FakeWeb, clock: Clock | None = None) -> TokenVerifier:
    cache = JwksCache(issuer=ISSUER, fetch=web, min_refetch_interval=10, clock=clock or Clock())
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=cache)


def test_by_default_the_keys_are_found_through_the_issuers_discovery_document() -> None:
    verifier = TokenVerifier(issuer=ISSUER + "/", audience=AUDIENCE)

    assert verifier.jwks.discovery_url == ISSUER + contract.DISCOVERY_PATH
    assert verifier.jwks.url is None  # nothing is fetched before the first token


def test_the_keys_come_from_the_jwks_uri_the_discovery_document_names(issuer: Issuer) -> None:
    verifier = TokenVerifier(issuer=issuer.base, audience=AUDIENCE)  # real HTTP, loopback

    principal = verifier.principal(issuer.sign(issuer.claims(iss=issuer.base)))

    assert principal.user_id == uuid.UUID(USER_ID)
    assert issuer.paths == [contract.DISCOVERY_PATH, KEYS_PATH]
    assert verifier.jwks.url == issuer.base + KEYS_PATH


def test_the_discovery_document_is_read_on_first_use_and_then_kept(issuer: Issuer) -> None:
    web, clock = FakeWeb(issuer), Clock()
    verifier = discovering_verifier(web, clock)
    assert web.urls == []

    for _ in range(3):
        verifier.claims(issuer.sign(issuer.claims()))
    issuer.keys["key-2"] = new_key()
    issuer.published.add("key-2")
    verifier.claims(issuer.sign(issuer.claims(), kid="key-2"))  # unknown kid: one refetch
    clock.now += verifier.jwks.max_age
    verifier.claims(issuer.sign(issuer.claims()))  # the periodic refetch

    assert web.urls == [DISCOVERY_URL, KEYS_URL, KEYS_URL, KEYS_URL]


@pytest.mark.parametrize(
    "document",
    [
        {"issuer": "https://attacker.example.com", "jwks_uri": KEYS_URL},
        {"issuer": "https://id.example.com.attacker.example", "jwks_uri": KEYS_URL},
        {"issuer": ISSUER + "/tenant", "jwks_uri": KEYS_URL},
        {"jwks_uri": KEYS_URL},
        {"issuer": None, "jwks_uri": KEYS_URL},
        [{"issuer": ISSUER, "jwks_uri": KEYS_URL}],
        "not a document",
    ],
)
def test_a_discovery_document_of_another_issuer_is_refused(issuer: Issuer, document: Any) -> None:
    web = FakeWeb(issuer)
    web.discovery = document
    verifier = discovering_verifier(web)

    with pytest.raises(KeysUnavailable, match="issuer"):
        verifier.claims(issuer.sign(issuer.claims()))
    assert web.urls == [DISCOVERY_URL]  # its jwks_uri is never fetched


@pytest.mark.parametrize(
    "jwks_uri",
    [
        "http://keys.example.com/micro/jwks.json",
        "http://localhost:8000/.well-known/jwks.json",
        "http://10.0.0.5/.well-known/jwks.json",
        "ftp://keys.example.com/micro/jwks.json",
        "/.well-known/jwks.json",
        "",
        None,
        42,
    ],
)
def test_an_insecure_or_missing_jwks_uri_is_refused(issuer: Issuer, jwks_uri: Any) -> None:
    web = FakeWeb(issuer)
    web.discovery = {"issuer": ISSUER, "jwks_uri": jwks_uri}
    web.jwks_urls.add(str(jwks_uri))  # served, yet never fetched
    verifier = discovering_verifier(web)

    with pytest.raises(KeysUnavailable, match="jwks_uri"):
        verifier.claims(issuer.sign(issuer.claims()))
    assert web.urls == [DISCOVERY_URL]


def test_after_a_failed_jwks_fetch_the_discovery_document_is_read_again(issuer: Issuer) -> None:
    web, clock = FakeWeb(issuer), Clock()
    verifier = discovering_verifier(web, clock)
    token = issuer.sign(issuer.claims())
    verifier.claims(token)
    web.jwks_urls.remove(KEYS_URL)  # the issuer moved its keys
    web.discovery = {"issuer": ISSUER, "jwks_uri": MOVED_URL}

    clock.now += verifier.jwks.max_age
    verifier.claims(token)  # the refetch fails: the keys held keep working meanwhile
    clock.now += 10  # min_refetch_interval
    verifier.claims(token)

    assert web.urls == [DISCOVERY_URL, KEYS_URL, KEYS_URL, DISCOVERY_URL, MOVED_URL]
    assert verifier.jwks.url == MOVED_URL


def test_an_unreachable_discovery_document_is_keys_unavailable(issuer: Issuer) -> None:
    web = FakeWeb(issuer)
    web.discovery = None
    verifier = discovering_verifier(web)

    with pytest.raises(KeysUnavailable):
        verifier.claims(issuer.sign(issuer.claims()))


def test_a_jwks_url_given_skips_the_discovery_document(issuer: Issuer) -> None:
    web = FakeWeb(issuer)
    verifier = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks=JwksCache(MOVED_URL, fetch=web))

    verifier.claims(issuer.sign(issuer.claims()))

    assert web.urls == [MOVED_URL] and verifier.jwks.discovery_url is None
    by_option = TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=KEYS_URL)
    assert by_option.jwks.url == KEYS_URL and by_option.jwks.discovery_url is None


def test_a_jwks_cache_takes_either_a_url_or_an_issuer() -> None:
    with pytest.raises(ValueError, match="either"):
        JwksCache()
    with pytest.raises(ValueError, match="either"):
        JwksCache(KEYS_URL, issuer=ISSUER)


# --- principals from claims -----------------------------------------------------------------


def upstream_claims(**extra: Any) -> dict[str, Any]:
    return {
        "sub": "5f0c6a52-4d7e-4d53-9c4e-7a3c1f0b8e11",
        "jti": "j",
        "exp": 2_000_000_000,
        "scope": "profile",
        "token_type": "upstream",
        **extra,
    }


@pytest.mark.parametrize(
    ("amr", "client_id", "personal"),
    [
        (["pwd"], None, True),
        (["fed"], None, True),
        (["fed", "hwk"], "micro-cli", True),
        (["hwk", "user"], None, True),
        (["swk", "user"], "micro-cli", True),
        (["hwk", "user"], "app-1", False),
        (["otp", "user", "mfa"], None, False),
        (["fed"], "app-1", False),
        (["api_key"], None, False),
        ([], None, False),
    ],
)
def test_a_password_passkey_or_federated_sign_in_without_a_third_party_app_is_personal(
    amr: list[str], client_id: str | None, personal: bool
) -> None:
    claims = {**upstream_claims(amr=amr), "token_type": "access"}
    if client_id is not None:
        claims["client_id"] = client_id

    assert principal_from_claims(claims).is_personal_sign_in is personal


def test_an_upstream_principal_takes_src_amr_and_never_a_method_in_amr() -> None:
    principal = principal_from_claims(upstream_claims(amr=[], src_amr=["pwd", "otp"]))

    assert principal.amr == () and principal.src_amr == ("pwd", "otp")
    assert principal.via_gateway and not principal.is_personal_sign_in


def test_an_upstream_token_signed_before_src_amr_keeps_its_methods_out_of_amr() -> None:
    # Signed by an older instance during a rollout: the methods were in amr.
    principal = principal_from_claims(upstream_claims(amr=["pwd"]))

    assert principal.amr == () and principal.src_amr == ("pwd",)
    assert not principal.is_personal_sign_in


def test_an_access_token_principal_has_no_src_amr() -> None:
    claims = {**upstream_claims(amr=["pwd"], src_amr=["pwd"]), "token_type": "access"}

    principal = principal_from_claims(claims)

    assert principal.amr == ("pwd",) and principal.src_amr == ()
    assert principal.is_personal_sign_in and not principal.via_gateway


@pytest.mark.parametrize("claim", ["amr", "src_amr"])
def test_a_malformed_methods_claim_is_invalid(claim: str) -> None:
    with pytest.raises(InvalidToken, match=claim):
        principal_from_claims(upstream_claims(**{claim: "pwd"}))


# --- the JWKS -------------------------------------------------------------------------------


def test_jwks_parsing_keeps_only_public_rs256_signing_keys() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    full = RSAAlgorithm.to_jwk(private, as_dict=True)  # with the private members
    small = RSAAlgorithm.to_jwk(
        rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(),  # noqa: S505 - the weak key the parser must skip
        as_dict=True,
    )
    document = {
        "keys": [
            {**full, "kid": "good", "alg": "RS256", "use": "sig"},
            {**full, "kid": "enc", "use": "enc"},
            {**full, "kid": "ps", "alg": "PS256"},
            {**small, "kid": "small"},
            {"kty": "RSA", "kid": "broken", "n": "??"},
            {"kty": "EC", "kid": "ec"},
        ]
    }
    keys = public_keys_from_jwks(document)
    assert set(keys) == {"good"}
    assert isinstance(keys["good"], rsa.RSAPublicKey)
    with pytest.raises(KeysUnavailable):
        public_keys_from_jwks({"no": "keys"})


@pytest.mark.parametrize(
    "url",
    [
        "http://id.example.com/.well-known/jwks.json",
        "http://10.0.0.5:8000/.well-known/jwks.json",
        "http://localhost:8000/.well-known/jwks.json",  # a name: resolution is not ours
        "http://127.0.0.1.example.com/.well-known/jwks.json",
        "http://[::ffff:10.0.0.5]/.well-known/jwks.json",
        "ftp://id.example.com/.well-known/jwks.json",
        "https:///.well-known/jwks.json",
        "/.well-known/jwks.json",
    ],
)
def test_an_insecure_jwks_url_is_refused_at_construction(url: str) -> None:
    with pytest.raises(InsecureUrl, match="must be https"):
        JwksCache(url)
    with pytest.raises(InsecureUrl):
        TokenVerifier(issuer="https://id.example.com", audience="micro", jwks_url=url)
    with pytest.raises(KeysUnavailable, match="must be https"):
        fetch_json(url, 1.0)


def test_a_plain_http_issuer_is_refused_for_its_default_jwks_url() -> None:
    with pytest.raises(InsecureUrl, match="discovery document"):
        TokenVerifier(issuer="http://id.example.com", audience="micro")


@pytest.mark.parametrize(
    "url",
    [
        "https://id.example.com/.well-known/jwks.json",
        "http://127.0.0.1:8000/.well-known/jwks.json",
        "http://127.10.0.1/.well-known/jwks.json",
        "http://[::1]:8000/.well-known/jwks.json",
    ],
)
def test_https_and_loopback_jwks_urls_are_accepted(url: str) -> None:
    assert JwksCache(url).url == url
