"""Property-based fuzzing of every documented API operation against /api/schema/.

Schemathesis generates requests from the OpenAPI schema (its examples, coverage and fuzzing
phases, valid and invalid data) and sends them in-process to the WSGI application, once with an
`api_admin` bearer token and once with an ordinary user's. Every built-in check runs: no 5xx,
response body conforms to the documented schema, status code and content type documented,
documented response headers present, invalid data rejected, valid data accepted, a request
without the credentials refused, unsupported methods answered with 405, ...

Each example signs in as a principal created for it, so an example that changes the password,
enrols MFA or logs out everywhere cannot lock out the ones after it.

Budget: MICRO_FUZZ_EXAMPLES examples per operation in the fuzzing phase (default 10); the
examples and coverage phases add the cases the schema itself defines, so an operation sees about
20-60 requests per principal and the whole file runs in one to two minutes. Set e.g.
MICRO_FUZZ_EXAMPLES=200 for a deeper local run. The seed is fixed (MICRO_FUZZ_SEED, and Hypothesis
is derandomized without an example database) so a CI run is reproducible.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from schemathesis.config import SchemathesisConfig

from accounts.models import User
from tests.conftest import token_for
from tests.factories import AdminFactory, UserFactory

MAX_EXAMPLES = int(os.environ.get("MICRO_FUZZ_EXAMPLES", "10"))
SEED = int(os.environ.get("MICRO_FUZZ_SEED", "20261123"))

# positive_data_acceptance expects schema-valid requests to succeed, and 400 is not among the
# statuses it accepts: the schema declares what the server checks (a positive page_size, non-empty
# cursors, uuid formats, lengths, patterns: no NUL, no blank names, scope and role names,
# minItems, a grant's "read, write or admin", one operation per RPC method with its body), and
# what no schema can say is another status: a cursor this API did not write is a 404, a scope
# or `resource` nobody can hold or a refused password a 403, a taken name a 409.
POSITIVE_EXPECTED = ["2xx", "3xx", "401", "403", "404", "409", "429"]

CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "checks": {"positive_data_acceptance": {"expected-statuses": POSITIVE_EXPECTED}},
    }
)

# The OAuth 2.0 endpoints (tag `oauth`, under /o/) are documented but not fuzzed: RFC 6749,
# 7009 and 7662 prescribe `400 {"error": ...}` for a well-formed request naming a code, token or
# grant the server does not know (`invalid_grant`, `invalid_request`), and their bodies are
# forms answered by django-oauth-toolkit; tests/authn/oauth covers them. The deprecated
# operations are the RPC methods' GET-with-a-body twins: the same handler as their POST, which
# is fuzzed (and whose unsupported-method check sees GET in `Allow`, as documented).
schema = (
    schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)
    .exclude(tag="oauth")
    .exclude(deprecated=True)
)

FUZZ_SETTINGS = hypothesis.settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,  # no example database: a run depends on the seed alone
    deadline=None,  # argon2 password hashing makes some requests slow by design
    suppress_health_check=list(hypothesis.HealthCheck),
    print_blob=True,
)


@pytest.fixture(autouse=True)
def _keep_the_test_connection() -> Iterator[None]:
    """As Django's test client does: the WSGI handler's request signals would otherwise close
    the database connection that holds the test's transaction (PostgreSQL)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _principal(role: str) -> User:
    if role == "admin":
        return AdminFactory.create()
    return UserFactory.create()


def _call(case: Any, role: str) -> None:
    user = _principal(role)
    case.call_and_validate(headers={"Authorization": f"Bearer {token_for(user)}"})


@pytest.mark.django_db(databases="__all__")
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_admin(case: Any) -> None:
    _call(case, "admin")


@pytest.mark.django_db(databases="__all__")
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_user(case: Any) -> None:
    _call(case, "user")
