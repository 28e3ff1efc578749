"""The shared token vectors (clients/testdata/vectors.json): every case judged as the Go and
TypeScript verifiers judge it, at the table's clock and leeway, with its JWKS served without a
network. `MICRO_TEST_VECTORS` names the file where the package's tests run away from the
checkout (the clean environment of `make client-test` sets it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from micro_client import InvalidToken, JwksCache, TokenVerifier, UpstreamTokenVerifier
from micro_client.verifier import REASONS


def vectors_path() -> Path:
    configured = os.environ.get("MICRO_TEST_VECTORS")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent.parent.parent / "testdata" / "vectors.json"


# Loaded at collection: a missing file is an error, never a skipped table.
VECTORS: dict[str, Any] = json.loads(vectors_path().read_text())


def verifier_for(case: dict[str, Any], fetches: list[str]) -> TokenVerifier:
    """The verifier the case names, its JWKS served from the table, its clock at `now`."""

    def fetch(url: str, timeout: float) -> Any:
        fetches.append(url)
        return VECTORS["jwks"]

    jwks = JwksCache(VECTORS["issuer"] + "/.well-known/jwks.json", fetch=fetch)
    kind, audience = TokenVerifier, VECTORS["audience"]
    if case["accept"] == "upstream":
        kind, audience = UpstreamTokenVerifier, VECTORS["upstream_audience"]
    return kind(
        issuer=VECTORS["issuer"],
        audience=audience,
        leeway=VECTORS["leeway"],
        jwks=jwks,
        clock=lambda: float(VECTORS["now"]),
    )


def principal_fields(verifier: TokenVerifier, token: str) -> dict[str, Any]:
    principal = verifier.principal(token)
    return {
        "user_id": str(principal.user_id),
        "username": principal.username,
        "kind": principal.kind,
        "scopes": list(principal.scope_list),
        "groups": list(principal.groups),
        "amr": list(principal.amr),
        "client_id": principal.client_id,
        "token_id": principal.token_id,
        "audience": principal.audience,
        "personal": principal.is_personal_sign_in,
    }


@pytest.mark.parametrize("case", VECTORS["cases"], ids=[case["name"] for case in VECTORS["cases"]])
def test_vector(case: dict[str, Any]) -> None:
    fetches: list[str] = []
    verifier = verifier_for(case, fetches)

    if case["valid"]:
        assert principal_fields(verifier, case["token"]) == case["principal"]
        return
    with pytest.raises(InvalidToken) as refused:
        verifier.principal(case["token"])
    assert refused.value.reason == case["reason"], str(refused.value)
    if case["reason"] in {"algorithm", "header"}:
        # Refused on the header: no key was looked up, so nothing was fetched.
        assert fetches == []


def test_the_table_uses_only_the_shared_reasons() -> None:
    reasons = {case["reason"] for case in VECTORS["cases"] if not case["valid"]}

    assert reasons == REASONS


def test_an_unknown_kid_costs_one_refetch_then_none_within_the_interval() -> None:
    case = next(case for case in VECTORS["cases"] if case["name"] == "unknown kid")
    valid = next(case for case in VECTORS["cases"] if case["name"] == "valid access token")
    fetches: list[str] = []
    verifier = verifier_for(case, fetches)
    verifier.principal(valid["token"])

    for _ in range(5):
        with pytest.raises(InvalidToken) as refused:
            verifier.principal(case["token"])
        assert refused.value.reason == "unknown_key"

    assert len(fetches) == 2  # the first fetch, then one refetch for the unknown kid
