"""Revocation of a user's tokens at an instant: before it refused, after it accepted, even
within one second (time is controlled: tokens are issued and revoked at chosen instants)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework_simplejwt import tokens as simplejwt_tokens

from accounts.models import User
from authn.models import RevokedToken
from authn.tokens import revocation
from authn.tokens.authentication import BearerTokenAuthentication
from tests.authn.helpers import ME_URL, forge, profile_token, valid_claims

SECOND = int(time.time()) - 2  # every instant below falls inside this one (past) second


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    """`clock.now` (float seconds) is the time tokens are issued and revocations recorded at."""
    state = SimpleNamespace(now=float(SECOND))
    monkeypatch.setattr(
        simplejwt_tokens, "aware_utcnow", lambda: datetime.fromtimestamp(state.now, tz=UTC)
    )
    monkeypatch.setattr(
        revocation,
        "time",
        SimpleNamespace(
            time=lambda: state.now, time_ns=lambda: round(state.now * 1_000_000) * 1_000
        ),
    )
    return state


def accepted(token: str) -> bool:
    request = Request(APIRequestFactory().get(ME_URL, HTTP_AUTHORIZATION=f"Bearer {token}"))
    try:
        BearerTokenAuthentication().authenticate(request)
    except AuthenticationFailed:
        return False
    return True


def test_a_token_issued_after_a_password_change_in_the_same_second_is_accepted(
    user: User, clock: SimpleNamespace
) -> None:
    clock.now = SECOND + 0.4
    revocation.revoke_subject(user_id=str(user.pk))
    clock.now = SECOND + 0.7

    assert accepted(profile_token(user))


def test_a_token_issued_before_the_change_in_the_same_second_stays_refused(
    user: User, clock: SimpleNamespace
) -> None:
    clock.now = SECOND + 0.4
    before = profile_token(user)
    clock.now = SECOND + 0.7
    revocation.revoke_subject(user_id=str(user.pk))

    assert not accepted(before)


def test_a_token_issued_a_microsecond_before_the_change_stays_refused(
    user: User, clock: SimpleNamespace
) -> None:
    clock.now = SECOND + 0.500000
    before = profile_token(user)
    clock.now = SECOND + 0.500001
    revocation.revoke_subject(user_id=str(user.pk))

    assert not accepted(before)


def test_a_token_without_a_precise_issue_time_counts_from_the_start_of_its_second(
    user: User, clock: SimpleNamespace
) -> None:
    clock.now = SECOND + 0.9
    revocation.revoke_subject(user_id=str(user.pk))

    assert not accepted(forge(valid_claims(user, iat=SECOND)))
    # A precise issue time that disagrees with `iat` is not trusted either.
    assert not accepted(forge(valid_claims(user, iat=SECOND, iat_us=(SECOND + 1) * 1_000_000)))


def test_a_revocation_recorded_in_whole_seconds_still_covers_that_whole_second(
    user: User, clock: SimpleNamespace
) -> None:
    clock.now = SECOND + 0.9
    token = profile_token(user)
    RevokedToken.objects.create(
        kind=RevokedToken.Kind.SUBJECT,
        value=str(user.pk),
        not_after=SECOND,
        expires_at=datetime.fromtimestamp(SECOND + 3600, tz=UTC),
    )
    revocation.cache.clear()  # the next check reloads the list from the database

    assert not accepted(token)
    clock.now = SECOND + 1.0
    assert accepted(profile_token(user))
