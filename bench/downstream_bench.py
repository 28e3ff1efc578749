"""Scenario P9: verifying an access token in a downstream service with the documented recipe.

The recipe is the `micro_client` package (clients/python, docs/downstream.md):
`TokenVerifier.claims(token)`, which checks the header, finds the key by `kid` in its JWKS
cache and runs PyJWT's RS256 decode with `iss`, `aud`, `exp` and the required claims. The
baseline is a bare PyJWT RS256 decode of the same token with the same public key object
(`jwt.decode(token, key, algorithms=["RS256"], audience=…, issuer=…)`: the least a correct
verifier does; PyJWT refuses a token with an `aud` when no audience is given). The JWKS is
fetched from the bench server once, before timing; the timed loop fetches nothing unless the
recipe would (it does not: the key is cached).

Both sides run in this process on one core, in pairs of short blocks of the same number of
tokens (which side goes first alternates), so that the machine's drift hits both alike. The
ratio is the median over the pairs of (recipe block time) / (bare block time), robust to the
bursts of a shared machine; the ratio of the totals is reported beside it. Target <= 1.2.
Called by bench/run.py after the HTTP scenarios, with a token from the large server.

Alone (`python bench/downstream_bench.py [--smoke]`) it needs no server: it signs a token with
a key it makes for the run and prints, on its last line, the JSON object every
SDK's bench prints: {"language": "python", "sdk_ns_per_token", "bare_ns_per_token", "ratio"}.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from micro_client.verifier import (  # installed by make setup (clients/python)
    JwksCache,
    TokenVerifier,
)

BLOCK_S = 0.01  # one calibrated block of each side lasts about this long


# The standalone run's token names these (any https issuer would do: nothing is fetched).
STANDALONE_ISSUER = "https://issuer.bench"
STANDALONE_AUDIENCE = "micro"


def _timed(operation: Callable[[], Any], count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        operation()
    return time.perf_counter() - started


def _block_size(operation: Callable[[], Any]) -> int:
    """How many operations take about BLOCK_S (measured on 200 after a warm-up)."""
    _timed(operation, 50)
    elapsed = _timed(operation, 200)
    return max(1, int(200 * BLOCK_S / max(elapsed, 1e-9)))


def measure(base_url: str, token: str, audience: str, seconds: float) -> dict[str, Any]:
    """Verifies/s of the recipe and of the bare decode, and their time ratio."""
    verifier = TokenVerifier(issuer=base_url, audience=audience)
    return compare(verifier, token, seconds)


def compare(verifier: TokenVerifier, token: str, seconds: float) -> dict[str, Any]:
    """The recipe (`verifier.claims`) against the bare decode with the key it holds."""
    claims = verifier.claims(token)  # fetches the JWKS: the one fetch of the run
    key = verifier.jwks.key(jwt.get_unverified_header(token)["kid"])
    audience, issuer = verifier.audience, verifier.issuer

    def recipe() -> Any:
        return verifier.claims(token)

    def bare() -> Any:
        return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=issuer)

    assert bare() == claims
    count = _block_size(bare)
    rounds = max(10, int(seconds / (2 * BLOCK_S)))
    recipe_s = bare_s = 0.0
    ratios = []
    for n in range(rounds):
        if n % 2:  # alternate which side goes first, so neither always follows the other
            recipe_block, bare_block = _timed(recipe, count), _timed(bare, count)
        else:
            bare_block, recipe_block = _timed(bare, count), _timed(recipe, count)
        recipe_s += recipe_block
        bare_s += bare_block
        ratios.append(recipe_block / bare_block)
    total = rounds * count
    return {
        "recipe_per_s": total / recipe_s,
        "bare_per_s": total / bare_s,
        "ratio": statistics.median(ratios),
        "ratio_of_totals": recipe_s / bare_s,
        "tokens_each": total,
        "rounds": rounds,
        "jwks_fetches": verifier.jwks.fetches,
        "jwks_url": verifier.jwks.url,
        "error": None,
    }


def standalone(seconds: float) -> dict[str, Any]:
    """The same comparison without a server: a token signed now with a key made for the run,
    its JWKS served from memory (no network)."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = {**json.loads(RSAAlgorithm.to_jwk(private_key.public_key())), "kid": "k1"}
    jwk.update({"use": "sig", "alg": "RS256"})
    now = int(time.time())
    claims = {
        "iss": STANDALONE_ISSUER,
        "aud": STANDALONE_AUDIENCE,
        "sub": "5f0c6a52-4d7e-4d53-9c4e-7a3c1f0b8e11",
        "iat": now,
        "exp": now + 600,
        "jti": "bench",
        "token_type": "access",
        "scope": "profile users:read",
        "username": "bench",
        "kind": "user",
        "groups": [],
        "amr": ["pwd"],
    }
    token = jwt.encode(
        claims, private_key, algorithm="RS256", headers={"kid": "k1", "typ": "at+jwt"}
    )
    jwks_url = STANDALONE_ISSUER + "/.well-known/jwks.json"
    jwks = JwksCache(jwks_url, fetch=lambda *_: {"keys": [jwk]})
    verifier = TokenVerifier(issuer=STANDALONE_ISSUER, audience=STANDALONE_AUDIENCE, jwks=jwks)
    return compare(verifier, token, seconds)


def main(argv: list[str] | None = None) -> int:
    """Prints the comparison; its last line is the one JSON object every SDK's bench prints."""
    parser = argparse.ArgumentParser(description="P9 for Python: micro_client vs bare PyJWT")
    parser.add_argument("--smoke", action="store_true", help="a short run (about a second)")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    result = standalone(1.0 if args.smoke else args.seconds)
    sdk_ns = 1e9 / result["recipe_per_s"]
    bare_ns = 1e9 / result["bare_per_s"]
    print(json.dumps(result, sort_keys=True), file=sys.stderr)
    line = {
        "language": "python",
        "sdk_ns_per_token": round(sdk_ns, 1),
        "bare_ns_per_token": round(bare_ns, 1),
        "ratio": round(result["ratio"], 3),
    }
    print(json.dumps(line))
    return 0


if __name__ == "__main__":
    sys.exit(main())
