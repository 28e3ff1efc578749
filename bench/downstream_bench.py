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
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jwt

from micro_client.verifier import TokenVerifier  # installed by make setup (clients/python)

BLOCK_S = 0.01  # one calibrated block of each side lasts about this long


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
    claims = verifier.claims(token)  # fetches the JWKS: the one fetch of the run
    key = verifier.jwks.key(jwt.get_unverified_header(token)["kid"])

    def recipe() -> Any:
        return verifier.claims(token)

    def bare() -> Any:
        return jwt.decode(token, key, algorithms=["RS256"], audience=audience, issuer=base_url)

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
