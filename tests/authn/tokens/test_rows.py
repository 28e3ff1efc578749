"""What a sign-in and a refresh store (authn/tokens/services.py): the rows the ORM's saves
store, written with one statement on PostgreSQL, all or none of them with the sign-in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import Q
from django.db.models.signals import post_save
from django.test.utils import CaptureQueriesContext

from accounts.models import User
from audit.models import AuditEvent
from authn.models import RefreshToken, TokenFamily
from authn.sign_in import services as sign_in
from authn.tokens import services as tokens
from micro_platform import metrics
from tests.authn.helpers import password_login, refresh
from tests.factories import DEFAULT_PASSWORD, GroupFactory, MembershipFactory, UserFactory

on_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="one statement only on PostgreSQL"
)
TABLES = ('"authn_tokenfamily"', '"authn_refreshtoken"', '"authn_auditevent"')


@contextmanager
def orm_saves() -> Iterator[None]:
    """A receiver of TokenFamily's save signals: the rows are then saved by the ORM, one by
    one, on any database."""

    def receiver(**kwargs: Any) -> None:
        pass

    post_save.connect(receiver, sender=TokenFamily)
    try:
        yield
    finally:
        post_save.disconnect(receiver, sender=TokenFamily)


def claims(access_token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(access_token, options={"verify_signature": False})
    return decoded


def stored(pair: dict[str, Any]) -> dict[str, Any]:
    """Every column of the sign-in's rows, with what differs between two sign-ins (keys,
    times, the secret's hash) checked here and left out."""
    sid = claims(pair["access_token"])["sid"]
    family = TokenFamily.objects.filter(pk=sid).values().get()
    (token,) = RefreshToken.objects.filter(family_id=sid).values()
    events = list(AuditEvent.objects.filter(Q(subject_id=sid) | Q(data__sid=sid)).values())
    events.sort(key=lambda event: (event["created_at"], event["type"]))
    # The access token's auth_time is the stored creation time of its family.
    assert claims(pair["access_token"])["auth_time"] == int(family["created_at"].timestamp())
    ttl = timedelta(seconds=settings.MICRO_REFRESH_TOKEN_TTL)
    assert (
        timedelta(0) <= ttl - (family["expires_at"] - family["created_at"]) < timedelta(seconds=1)
    )
    assert token["expires_at"] == family["expires_at"]
    assert token["token_hash"] == tokens.hash_secret(pair["refresh_token"])
    assert family["created_at"] <= token["created_at"] <= events[0]["created_at"]
    for row in (family, token, *events):
        del row["id"], row["created_at"]
    del family["expires_at"], token["expires_at"], token["token_hash"], token["family_id"]
    for event in events:
        event["subject_id"] = event["subject_id"].replace(sid, "<sid>")
        if "sid" in event["data"]:
            event["data"]["sid"] = "<sid>"
    return {"family": family, "token": token, "events": events}


@pytest.fixture
def member(db: Any) -> User:
    user = UserFactory.create()
    MembershipFactory.create(user=user, group=GroupFactory.create(scopes=["users:read"]))
    return user


def test_a_sign_in_stores_the_rows_the_orm_would_store(member: User) -> None:
    with orm_saves():
        by_the_orm = stored(password_login(member, DEFAULT_PASSWORD))
    together = stored(password_login(member, DEFAULT_PASSWORD))

    assert together == by_the_orm
    assert together["family"]["amr"] == ["pwd"] and together["token"]["used_at"] is None
    assert [event["type"] for event in together["events"]] == ["login.succeeded", "token.issued"]


@on_postgresql
def test_a_sign_in_stores_its_family_refresh_token_and_events_with_one_statement(
    member: User,
) -> None:
    with CaptureQueriesContext(connection) as captured:
        password_login(member, DEFAULT_PASSWORD)
    writes = [
        query["sql"]
        for query in captured.captured_queries
        if any(f"INSERT INTO {table}" in query["sql"] for table in TABLES)
    ]
    assert len(writes) == 1 and all(table in writes[0] for table in TABLES), writes


def sign_in_directly(user: User) -> Any:
    return sign_in.token_obtain_with_password(
        username=user.username, password=DEFAULT_PASSWORD, scope=None, ip_address=None
    )


def nothing_stored_for(user: User) -> bool:
    user.refresh_from_db()
    return (
        user.last_login is None
        and not TokenFamily.objects.exists()
        and not RefreshToken.objects.exists()
        and not AuditEvent.objects.filter(type__in=["login.succeeded", "token.issued"]).exists()
    )


@pytest.mark.parametrize("together", [True, False], ids=["together", "orm"])
def test_a_sign_in_that_fails_after_its_rows_are_built_stores_none_of_them(
    transactional_db: Any, member: User, monkeypatch: pytest.MonkeyPatch, together: bool
) -> None:
    def broken(**kwargs: Any) -> None:
        raise RuntimeError("failed after the family and its refresh token were added")

    counted: list[str] = []
    monkeypatch.setattr(metrics, "sign_in", counted.append)
    with (
        monkeypatch.context() as failing,
        pytest.raises(RuntimeError),
        saved(together=together),
    ):
        failing.setattr(sign_in, "audit_record_many", broken)
        sign_in_directly(member)
    assert nothing_stored_for(member)
    assert counted == []  # nor counted as a success
    with saved(together=together):
        sign_in_directly(member)
    assert counted == ["succeeded"]  # once committed


@on_postgresql
def test_a_sign_in_whose_one_statement_is_refused_stores_none_of_its_rows(
    transactional_db: Any, member: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The confirming UPDATE ran first in the sign-in's transaction: it is undone too."""
    monkeypatch.setattr(tokens.scope_catalogue, "to_string", lambda scopes: "x" * 501)
    with pytest.raises(DatabaseError):
        sign_in_directly(member)
    assert nothing_stored_for(member)


def saved(*, together: bool) -> AbstractContextManager[None]:
    """Rows written together where the database allows it, or by the ORM's saves."""
    return nullcontext() if together else orm_saves()


@pytest.mark.parametrize("together", [True, False], ids=["together", "orm"])
def test_a_refresh_stores_its_token_and_event_as_the_orm_would(
    member: User, together: bool
) -> None:
    first = password_login(member, DEFAULT_PASSWORD)
    sid = claims(first["access_token"])["sid"]
    with CaptureQueriesContext(connection) as captured, saved(together=together):
        second = refresh(first["refresh_token"]).json()

    new = RefreshToken.objects.get(token_hash=tokens.hash_secret(second["refresh_token"]))
    assert (str(new.family_id), new.used_at) == (sid, None)
    assert new.expires_at == TokenFamily.objects.get(pk=sid).expires_at
    event = AuditEvent.objects.get(type="token.refreshed")
    assert (event.actor_id, event.subject_type, event.subject_id) == (
        member.pk,
        "token_family",
        sid,
    )
    assert new.created_at <= event.created_at
    writes = [
        query["sql"]
        for query in captured.captured_queries
        if any(f"INSERT INTO {table}" in query["sql"] for table in TABLES)
    ]
    one_statement = together and connection.vendor == "postgresql"
    assert len(writes) == (1 if one_statement else 2), writes
