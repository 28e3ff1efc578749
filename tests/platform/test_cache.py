"""The database cache used without Redis: a full table is culled in part, never emptied, and
a cull never drops a revocation (its keys sort lowest, so a plain cull would take them first)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command

from authn.tokens import revocation
from micro_platform.settings import base

MAX_ENTRIES = 20


def production_options() -> dict[str, Any]:
    options: dict[str, Any] = base.DATABASE_CACHE["OPTIONS"]  # type: ignore[assignment]
    return options


@pytest.fixture
def small_database_cache(db: Any, settings: Any) -> None:
    """The production database cache (the one used without Redis, whatever this run uses),
    with room for only MAX_ENTRIES entries."""
    options: dict[str, Any] = {**production_options(), "MAX_ENTRIES": MAX_ENTRIES}
    settings.CACHES = {
        "default": {**base.DATABASE_CACHE, "LOCATION": "micro_cull_test", "OPTIONS": options}
    }
    call_command("createcachetable", verbosity=0)


def fill(count: int) -> None:
    for number in range(count):
        cache.set(f"filler:{number:04d}", number, timeout=3600)


def revoked_claims(letter: str) -> dict[str, Any]:
    now = int(time.time())
    return {"jti": letter * 32, "sub": "someone", "iat": now, "exp": now + 300}


@pytest.mark.usefixtures("small_database_cache")
def test_a_full_cache_drops_a_part_of_its_entries_not_all() -> None:
    fill(MAX_ENTRIES + 2)

    survivors = cache.get_many([f"filler:{number:04d}" for number in range(MAX_ENTRIES + 2)])

    assert len(survivors) >= MAX_ENTRIES * 0.8


@pytest.mark.usefixtures("small_database_cache")
def test_a_cull_keeps_every_revocation() -> None:
    revoked = [revoked_claims(letter) for letter in "abcdef"]
    for claims in revoked:
        revocation.revoke_access_token(jti=claims["jti"], exp=claims["exp"])
    assert revocation.is_revoked(revoked[0])  # loads the list and sets the sentinel

    # Past MAX_ENTRIES a cull drops the lowest keys, and "authn:rev:jti:aaa…" sorts first.
    fill(MAX_ENTRIES * 2)

    keys = [revocation._key("jti", claims["jti"]) for claims in revoked]
    assert len(cache.get_many([*keys, revocation.SENTINEL_KEY])) == len(revoked) + 1
    assert all(revocation.is_revoked(claims) for claims in revoked)
    assert len(cache.get_many([f"filler:{number:04d}" for number in range(MAX_ENTRIES * 2)])) <= (
        MAX_ENTRIES
    )


def test_production_settings_never_clear_the_whole_cache() -> None:
    assert production_options()["CULL_FREQUENCY"] > 1


def test_the_protected_prefix_covers_every_revocation_key() -> None:
    """The settings name the revocation list's keys by prefix (the platform imports no app):
    this ties the two together."""
    protected = tuple(base.DATABASE_CACHE["CULL_PROTECTED_PREFIXES"])  # type: ignore[arg-type]

    for key in (revocation.SENTINEL_KEY, revocation._key("sub", "x"), revocation._key("jti", "y")):
        assert key.startswith(protected), key
