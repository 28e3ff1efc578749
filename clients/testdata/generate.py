#!/usr/bin/env python3
"""Writes vectors.json: the table of tokens every Micro SDK verifier must judge the same way.

Run with the repository's virtual environment (PyJWT and cryptography):

    .venv/bin/python clients/testdata/generate.py            # rewrite vectors.json
    .venv/bin/python clients/testdata/generate.py --check    # fail if it is stale

Each run signs with three RSA keys made for it and then forgotten: no private key is kept,
in the repository or anywhere else. k1 and k2 are published in the table's JWKS; k0 is a
rotated-out key whose tokens no verifier may accept. So the tokens and the JWKS change on
every run, and everything else (the cases, their verdicts, reasons and principals: the clock,
token ids and subjects are fixed, the JSON is sorted) is the same; `--check` compares that.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jwt.algorithms import RSAAlgorithm

HERE = Path(__file__).resolve().parent
VECTORS = HERE / "vectors.json"
KEY_IDS = ("k0", "k1", "k2")
PUBLISHED_KEY_IDS = ("k1", "k2")

ISSUER = "https://issuer.test"
AUDIENCE = "micro"
UPSTREAM_AUDIENCE = "micro-upstream"
NOW = 1_900_000_000
LEEWAY = 30
ACCESS_LIFETIME = 600
UPSTREAM_LIFETIME = 60

# The `amr` values of a person's own sign-in (a password, a passkey, a trusted identity
# provider) and the one first-party client whose tokens stay personal.
PERSONAL_AMR = ("pwd", "hwk", "swk", "fed")
CLI_CLIENT_ID = "micro-cli"

ACCESS_TYP = "at+jwt"
UPSTREAM_TYP = "user+jwt"
# Fixed identities, so the table never changes between runs.
NAMESPACE = uuid.UUID("5f0e6a52-3b8e-4d55-9a53-0c2f5f7c1d14")
ALICE = str(uuid.uuid5(NAMESPACE, "user:alice"))
BILLING = str(uuid.uuid5(NAMESPACE, "service:billing"))
STAFF = str(uuid.uuid5(NAMESPACE, "group:staff"))
EDITORS = str(uuid.uuid5(NAMESPACE, "group:editors"))
SESSION = str(uuid.uuid5(NAMESPACE, "session:alice"))

Keys = dict[str, rsa.RSAPrivateKey]
Header = dict[str, Any]
Claims = dict[str, Any]


def new_keys() -> Keys:
    """Keys for one run, never written anywhere."""
    return {kid: rsa.generate_private_key(public_exponent=65537, key_size=2048) for kid in KEY_IDS}


def public_jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    """The JWKS entry the server publishes for a signing key."""
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": jwk["n"], "e": jwk["e"]}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def json_part(value: Any) -> str:
    return b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())


Signer = Callable[[bytes], bytes]


def rs(key: rsa.RSAPrivateKey, digest: hashes.HashAlgorithm | None = None) -> Signer:
    """An RSASSA-PKCS1-v1_5 signer (RS256, or RS512 with `hashes.SHA512()`)."""
    return lambda data: key.sign(data, padding.PKCS1v15(), digest or hashes.SHA256())


def hs256(secret: bytes) -> Signer:
    return lambda data: hmac.new(secret, data, hashlib.sha256).digest()


def unsigned(data: bytes) -> bytes:
    return b""


def compact(header: Header, payload_part: str, signer: Signer) -> str:
    """A compact JWS over an already encoded payload part (which may be deliberately bad)."""
    signing_input = f"{json_part(header)}.{payload_part}"
    return f"{signing_input}.{b64url(signer(signing_input.encode()))}"


def signed(header: Header, claims: Claims, signer: Signer) -> str:
    return compact(header, json_part(claims), signer)


def access_header(kid: str | None = "k1", **extra: Any) -> Header:
    header: Header = {"alg": "RS256", "typ": ACCESS_TYP, **extra}
    if kid is not None:
        header["kid"] = kid
    return header


def upstream_header(kid: str = "k1") -> Header:
    return {"alg": "RS256", "typ": UPSTREAM_TYP, "kid": kid}


def token_id(name: str) -> str:
    """A fixed token id per case, shaped like the server's (a hex UUID)."""
    return uuid.uuid5(NAMESPACE, f"jti:{name}").hex


def access_claims(name: str, *, iat: int = NOW - 60, **changes: Any) -> Claims:
    """A password sign-in's access token, with the claims the server writes."""
    claims: Claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": ALICE,
        "iat": iat,
        "iat_us": iat * 1_000_000 + 250_000,
        "exp": iat + ACCESS_LIFETIME,
        "jti": token_id(name),
        "token_type": "access",
        "scope": "profile users:read objects:read objects:write",
        "username": "alice",
        "kind": "user",
        "groups": [STAFF, EDITORS],
        "amr": ["pwd"],
        "sid": SESSION,
    }
    claims.update(changes)
    return {key: value for key, value in claims.items() if value is not None}


def service_claims(name: str) -> Claims:
    """A client-credentials token of a service account: no `amr`, no session."""
    return access_claims(
        name,
        sub=BILLING,
        username="billing",
        kind="service",
        groups=[],
        amr=None,
        sid=None,
        scope="users:read billing:read",
        client_id="billing-service",
    )


def upstream_claims(name: str) -> Claims:
    """The gateway's upstream token: the upstream audience, `token_type` upstream, an empty
    `amr` (the caller's methods in `src_amr`), the derived-from access token's id."""
    iat = NOW - 5
    return access_claims(
        name,
        iat=iat,
        aud=UPSTREAM_AUDIENCE,
        exp=iat + UPSTREAM_LIFETIME,
        token_type="upstream",  # noqa: S106 - a token kind, not a secret
        amr=[],
        src_amr=["pwd"],
        parent_jti=token_id("parent of " + name),
    )


def personal(claims: Claims, accept: str) -> bool:
    """Whether a person signed in themselves: a personal `amr` value, no OAuth client but the
    CLI, and never through the gateway's upstream token."""
    amr = claims.get("amr", [])
    return (
        accept == "access"
        and any(method in amr for method in PERSONAL_AMR)
        and claims.get("client_id") in (None, CLI_CLIENT_ID)
    )


def principal(claims: Claims, accept: str, audience: str) -> dict[str, Any]:
    """What a verifier's principal must hold for valid claims (`audience`: the one it is
    configured with, which the token's `aud` names), and whether it is a personal sign-in."""
    return {
        "personal": personal(claims, accept),
        "user_id": claims["sub"],
        "username": claims["username"],
        "kind": claims["kind"],
        "scopes": claims["scope"].split(" "),
        "groups": claims["groups"],
        "amr": claims.get("amr", []),
        "client_id": claims.get("client_id"),
        "token_id": claims["jti"],
        "audience": audience,
    }


def case(
    name: str, token: str, *, reason: str | None, accept: str = "access", claims: Claims | None
) -> dict[str, Any]:
    """One row: `claims` (for a valid token) give the expected principal."""
    audience = UPSTREAM_AUDIENCE if accept == "upstream" else AUDIENCE
    return {
        "name": name,
        "accept": accept,
        "token": token,
        "valid": reason is None,
        "reason": reason,
        "principal": principal(claims, accept, audience) if reason is None and claims else None,
    }


def valid_cases(keys: Keys) -> list[dict[str, Any]]:
    k1, k2 = rs(keys["k1"]), rs(keys["k2"])
    rows = []
    claims = access_claims("valid access token")
    rows.append(
        case("valid access token", signed(access_header(), claims, k1), reason=None, claims=claims)
    )
    claims = service_claims("valid access token signed by k2")
    rows.append(
        case(
            "valid access token signed by k2 (client credentials, no amr)",
            signed(access_header("k2"), claims, k2),
            reason=None,
            claims=claims,
        )
    )
    claims = upstream_claims("valid upstream token")
    rows.append(
        case(
            "valid upstream token",
            signed(upstream_header(), claims, k1),
            reason=None,
            accept="upstream",
            claims=claims,
        )
    )
    rows.extend(sign_in_cases(keys))
    claims = access_claims("expired within leeway", iat=NOW - ACCESS_LIFETIME - 10)
    rows.append(
        case(
            "expired 10 s ago, within the 30 s leeway",
            signed(access_header(), claims, k1),
            reason=None,
            claims=claims,
        )
    )
    claims = access_claims("nbf within leeway", nbf=NOW + 10)
    rows.append(
        case(
            "nbf 10 s ahead, within the leeway",
            signed(access_header(), claims, k1),
            reason=None,
            claims=claims,
        )
    )
    claims = access_claims("aud array", aud=["billing", AUDIENCE])
    rows.append(
        case(
            "aud as an array containing the audience",
            signed(access_header(), claims, k1),
            reason=None,
            claims=claims,
        )
    )
    return rows


def sign_in_cases(keys: Keys) -> list[dict[str, Any]]:
    """Valid tokens of each kind of sign-in: whether each is the person's own (`personal`)."""
    k1 = rs(keys["k1"])
    app = {"client_id": "photo-app"}
    rows: list[tuple[str, Claims]] = [
        ("passkey sign-in (hwk, user)", {"amr": ["hwk", "user"]}),
        ("password then a passkey", {"amr": ["pwd", "hwk", "user", "mfa"]}),
        (
            "micro CLI token of a synced passkey sign-in",
            {"amr": ["swk", "user"], "client_id": CLI_CLIENT_ID},
        ),
        ("third-party app token of a passkey sign-in", {"amr": ["hwk", "user"], **app}),
        ("federated sign-in (fed)", {"amr": ["fed", "pwd"]}),
        ("token exchanged for an API key", {"amr": ["api_key"]}),
        ("a one-time code alone (otp)", {"amr": ["otp"]}),
    ]
    cases = []
    for name, changes in rows:
        claims = access_claims(name, **changes)
        cases.append(case(name, signed(access_header(), claims, k1), reason=None, claims=claims))
    return cases


def claim_cases(keys: Keys) -> list[dict[str, Any]]:
    """Signed correctly, with a header that passes: the claims are what is wrong."""
    k1 = rs(keys["k1"])
    rows: list[tuple[str, Claims, str]] = [
        ("expired 60 s ago, beyond the leeway", {"iat": NOW - ACCESS_LIFETIME - 60}, "expired"),
        ("nbf 60 s in the future", {"nbf": NOW + 60}, "not_yet_valid"),
        ("iat 60 s in the future", {"iat": NOW + 60}, "not_yet_valid"),
        ("wrong iss", {"iss": "https://other-issuer.test"}, "issuer"),
        ("wrong aud", {"aud": "billing"}, "audience"),
        ("aud array without the audience", {"aud": ["billing", "micro-upstream"]}, "audience"),
        # The principal's claims: ids are UUIDs, `kind` one of two words, lists are lists.
        ("sub that is not a UUID", {"sub": "alice"}, "malformed"),
        ("a group id that is not a UUID", {"groups": ["admins"]}, "malformed"),
        ("groups that is not a list", {"groups": "admins"}, "malformed"),
        ("kind that is neither user nor service", {"kind": "robot"}, "malformed"),
        ("scope that is not a string", {"scope": ["profile"]}, "malformed"),
        ("amr that is not a list", {"amr": "pwd"}, "malformed"),
    ]
    cases = [
        case(
            name,
            signed(access_header(), access_claims(name, **changes), k1),
            reason=reason,
            claims=None,
        )
        for name, changes, reason in rows
    ]
    for claim in ("sub", "jti", "exp", "iat", "iss", "aud"):
        name = f"missing {claim}"
        claims = {k: v for k, v in access_claims(name).items() if k != claim}
        cases.append(
            case(name, signed(access_header(), claims, k1), reason="missing_claim", claims=None)
        )
    return cases


def header_cases(keys: Keys) -> list[dict[str, Any]]:
    """Refused on the header alone, before any key lookup."""
    k1 = keys["k1"]
    public_pem = k1.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    jwk = public_jwk("k1", k1)
    rows: list[tuple[str, Header, Signer, str]] = [
        ("alg none", {"alg": "none", "typ": ACCESS_TYP, "kid": "k1"}, unsigned, "algorithm"),
        (
            "HS256 signed with the public key's PEM as the secret",
            {"alg": "HS256", "typ": ACCESS_TYP, "kid": "k1"},
            hs256(public_pem),
            "algorithm",
        ),
        (
            "RS512",
            {"alg": "RS512", "typ": ACCESS_TYP, "kid": "k1"},
            rs(k1, hashes.SHA512()),
            "algorithm",
        ),
        (
            "alg none with an unknown kid",
            {"alg": "none", "typ": ACCESS_TYP, "kid": "k9"},
            unsigned,
            "algorithm",
        ),
        ("typ JWT (an ID token)", {"alg": "RS256", "typ": "JWT", "kid": "k1"}, rs(k1), "type"),
        ("no typ", {"alg": "RS256", "kid": "k1"}, rs(k1), "type"),
        ("no kid", access_header(None), rs(k1), "header"),
        ("jku header", access_header(jku="https://attacker.test/jwks.json"), rs(k1), "header"),
        ("jwk header", access_header(jwk=jwk), rs(k1), "header"),
        ("x5u header", access_header(x5u="https://attacker.test/cert.pem"), rs(k1), "header"),
        ("x5c header", access_header(x5c=[b64url(b"not a certificate")]), rs(k1), "header"),
        ("crit header", access_header(crit=["exp"]), rs(k1), "header"),
        (
            "jku header with an unknown kid",
            access_header("k9", jku="https://attacker.test/jwks.json"),
            rs(k1),
            "header",
        ),
    ]
    return [
        case(name, signed(header, access_claims(name), signer), reason=reason, claims=None)
        for name, header, signer, reason in rows
    ]


def kind_cases(keys: Keys) -> list[dict[str, Any]]:
    """Access and upstream tokens are never taken for one another."""
    k1 = rs(keys["k1"])
    upstream = signed(upstream_header(), upstream_claims("upstream as access"), k1)
    # Even with the access audience and claims, `typ` alone decides the kind.
    access = signed(access_header(), access_claims("access as upstream"), k1)
    # The signed `token_type` claim must say upstream too, whatever the header says.
    mixed_claims = {**upstream_claims("mixed kind"), "token_type": "access"}
    mixed = signed(upstream_header(), mixed_claims, k1)
    # And an access `typ` over claims signed as an upstream token is no access token.
    reversed_claims = {**access_claims("reversed kind"), "token_type": "upstream"}
    reversed_kind = signed(access_header(), reversed_claims, k1)
    return [
        case(
            "upstream token where an access token is expected", upstream, reason="type", claims=None
        ),
        case(
            "access token where an upstream token is expected",
            access,
            reason="type",
            accept="upstream",
            claims=None,
        ),
        case(
            "upstream typ whose signed token_type is access",
            mixed,
            reason="type",
            accept="upstream",
            claims=None,
        ),
        case(
            "access typ whose signed token_type is upstream",
            reversed_kind,
            reason="type",
            claims=None,
        ),
    ]


def key_cases(keys: Keys) -> list[dict[str, Any]]:
    k1, k2, k0 = rs(keys["k1"]), rs(keys["k2"]), rs(keys["k0"])
    valid = signed(access_header(), access_claims("tampered payload"), k1)
    header, _, signature = valid.split(".")
    tampered = access_claims("tampered payload", scope="profile api_admin")
    return [
        case(
            "unknown kid",
            signed(access_header("k9"), access_claims("unknown kid"), k1),
            reason="unknown_key",
            claims=None,
        ),
        case(
            "rotated-out key k0",
            signed(access_header("k0"), access_claims("k0"), k0),
            reason="unknown_key",
            claims=None,
        ),
        case(
            "tampered payload",
            f"{header}.{json_part(tampered)}.{signature}",
            reason="signature",
            claims=None,
        ),
        case(
            "signature of k2 under kid k1",
            signed(access_header(), access_claims("k2 under k1"), k2),
            reason="signature",
            claims=None,
        ),
    ]


def malformed_cases(keys: Keys) -> list[dict[str, Any]]:
    """Not three base64url parts of JSON. Where the header is fine, the signature is valid,
    so a library that checks the signature before decoding the payload still says malformed."""
    k1 = rs(keys["k1"])
    good = signed(access_header(), access_claims("two parts"), k1)
    rows = [
        ("empty string", ""),
        ("two parts", good.rsplit(".", 1)[0]),
        ("four parts", good + "." + good.rsplit(".", 1)[1]),
        ("header not base64url", "e$$$." + good.split(".", 1)[1]),
        ("header not JSON", f"{b64url(b'not json')}.{good.split('.', 1)[1]}"),
        ("payload not base64url", compact(access_header(), "e$$$", k1)),
        ("payload not JSON", compact(access_header(), b64url(b"not json"), k1)),
        ("payload a JSON array", compact(access_header(), json_part(["sub"]), k1)),
    ]
    return [case(name, token, reason="malformed", claims=None) for name, token in rows]


def vectors(keys: Keys) -> dict[str, Any]:
    cases = [
        *valid_cases(keys),
        *claim_cases(keys),
        *header_cases(keys),
        *kind_cases(keys),
        *key_cases(keys),
        *malformed_cases(keys),
    ]
    names = [row["name"] for row in cases]
    assert len(set(names)) == len(names), "case names must be unique"  # noqa: S101
    return {
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "upstream_audience": UPSTREAM_AUDIENCE,
        "now": NOW,
        "leeway": LEEWAY,
        "jwks": {"keys": [public_jwk(kid, keys[kid]) for kid in PUBLISHED_KEY_IDS]},
        "cases": cases,
    }


def rendered(table: dict[str, Any]) -> str:
    return json.dumps(table, indent=2, sort_keys=True) + "\n"


def without_signatures(table: dict[str, Any]) -> dict[str, Any]:
    """The table less what each run's keys change: the JWKS and the tokens."""
    cases = [{k: v for k, v in row.items() if k != "token"} for row in table["cases"]]
    return {**{k: v for k, v in table.items() if k != "jwks"}, "cases": cases}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 if vectors.json is stale")
    args = parser.parse_args(argv)
    table = vectors(new_keys())
    if args.check:
        held = json.loads(VECTORS.read_text())
        if without_signatures(held) != without_signatures(table):
            print(f"{VECTORS} is stale: run {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    VECTORS.write_text(rendered(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
