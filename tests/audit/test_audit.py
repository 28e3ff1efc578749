"""The audit log's allow-list (audit/services.py): per event type, only the listed details are kept;
secrets under any name never reach the table or a log line, and every event the code records
has its entry."""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from audit.models import AuditEvent
from audit.services import (
    EVENT_DATA_KEYS,
    AuditDataNotAllowed,
    AuditEntry,
    audit_record,
    audit_record_many,
)

ROOT = Path(__file__).resolve().parents[2]
SOURCE_DIRS = ("accounts", "audit", "authn", "objects", "permissions", "micro_platform")
# Functions that write an audit event (and `AuditEntry`, an event for `audit_record_many`); a
# `type=` argument that is one of their own parameters is forwarded, and checked at their call
# sites instead.
AUDIT_WRITERS = frozenset({"audit_record", "_audit", "AuditEntry"})
SECRET_NAMES = {
    "password": "hunter2-password",
    "new_password": "hunter2-new-password",
    "old_password": "hunter2-old-password",
    "code": "123456-code",
    "client_secret": "s3cr3t-client-secret",
    "secret": "s3cr3t-secret",
    "token": "tok-en-value",
    "refresh_token": "mrt_refresh-value",
    "access_token": "eyJ-access-value",
    "otp": "654321-otp",
    "key": "mk_key-value",
    "session_id": "session-id-value",
    "unexpected_detail": "some-unlisted-value",
}


@pytest.fixture
def lenient(settings: Any) -> None:
    """Production behaviour: unknown details are dropped with a warning, not raised."""
    settings.MICRO_AUDIT_STRICT = False


def stored_and_logged(caplog: pytest.LogCaptureFixture) -> tuple[str, str]:
    stored = json.dumps(list(AuditEvent.objects.values("type", "subject_id", "data")), default=str)
    return stored, "\n".join(record.getMessage() for record in caplog.records)


def test_secret_names_and_unknown_keys_never_reach_the_table_or_the_logs(
    db: Any,
    lenient: None,
    caplog: pytest.LogCaptureFixture,
    django_capture_on_commit_callbacks: Any,
) -> None:
    caplog.set_level(logging.DEBUG)
    with django_capture_on_commit_callbacks(execute=True):
        audit_record(
            type="password.changed",
            actor=None,
            subject_type="user",
            subject_id="u1",
            data={"method": "reset", **SECRET_NAMES},
        )
    row = AuditEvent.objects.get()
    assert row.data == {"method": "reset"}
    stored, logged = stored_and_logged(caplog)
    for value in SECRET_NAMES.values():
        assert value not in stored and value not in logged
    assert "audit details dropped" in logged and "password.changed" in logged


@pytest.mark.parametrize("name", sorted(SECRET_NAMES))
def test_strict_mode_refuses_a_secret_or_unknown_key_and_writes_nothing(db: Any, name: str) -> None:
    with pytest.raises(AuditDataNotAllowed, match=name), transaction.atomic():
        audit_record(type="login.failed", actor=None, data={"method": "x", name: "v"})
    assert not AuditEvent.objects.exists()


def test_an_unknown_event_type_is_refused_in_strict_mode_and_kept_bare_otherwise(
    db: Any, settings: Any
) -> None:
    with pytest.raises(AuditDataNotAllowed, match="unknown audit event type"):
        audit_record(type="made.up", actor=None)
    settings.MICRO_AUDIT_STRICT = False
    audit_record(type="made.up", actor=None, data={"code": "123456"})
    assert AuditEvent.objects.get().data == {}


def test_no_allow_list_entry_names_a_secret() -> None:
    secret_names = set(SECRET_NAMES) - {"unexpected_detail"}
    for type_, keys in EVENT_DATA_KEYS.items():
        assert not keys & secret_names, type_
        assert not any("password" in key or "secret" in key for key in keys), type_


# --- Every audit call in the code against the allow-list -------------------------------------


def _module_constants(tree: ast.Module) -> dict[str, str]:
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name) and isinstance(node.value.value, str):
                    constants[target.id] = node.value.value
    return constants


def _types_of(value: ast.expr, constants: dict[str, str]) -> list[str] | None:
    """The event types a `type=` argument can take; None for a forwarded parameter."""
    if isinstance(value, ast.Constant) and isinstance(value.value, str):
        return [value.value]
    if isinstance(value, ast.IfExp):
        return [
            *(_types_of(value.body, constants) or []),
            *(_types_of(value.orelse, constants) or []),
        ]
    if isinstance(value, ast.Name) and value.id in constants:
        return [constants[value.id]]
    if isinstance(value, ast.Name) and value.id == "type":
        return None
    raise AssertionError(f"cannot tell the audit event type of {ast.unparse(value)}")


def _literal_keys(value: ast.expr | None) -> set[str]:
    if not isinstance(value, ast.Dict):
        return set()  # built elsewhere: checked at run time by the strict mode of the tests
    return {str(key.value) for key in value.keys if isinstance(key, ast.Constant)}


def audit_calls() -> Iterator[tuple[str, list[str], set[str]]]:
    """(where, event types, literal detail keys) of every audit write in the source."""
    for directory in SOURCE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text())
            constants = _module_constants(tree)
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                if name not in AUDIT_WRITERS:
                    continue
                arguments = {keyword.arg: keyword.value for keyword in node.keywords}
                types = _types_of(arguments["type"], constants)
                if types is not None:
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    yield where, types, _literal_keys(arguments.get("data"))


def test_every_event_type_in_the_code_has_an_allow_list_entry_with_its_details() -> None:
    calls = list(audit_calls())
    assert len(calls) >= 40  # the walk found the calls (a refactor renaming them shows here)
    for where, types, keys in calls:
        for type_ in types:
            assert type_ in EVENT_DATA_KEYS, f"{where}: {type_} has no allow-list entry"
            assert keys <= EVENT_DATA_KEYS[type_], f"{where}: {sorted(keys)} for {type_}"


def test_every_allow_list_entry_is_used() -> None:
    used = {type_ for _, types, _ in audit_calls() for type_ in types}
    assert set(EVENT_DATA_KEYS) == used


def test_audit_record_many_writes_in_one_insert_in_order(
    db: Any, django_assert_num_queries: Any
) -> None:
    entries = [
        AuditEntry(type="login.succeeded", actor=None, subject_id="a", data={"method": "x"}),
        AuditEntry(type="token.issued", actor=None, subject_id="b", data={"scope": "profile"}),
    ]
    with django_assert_num_queries(1):
        audit_record_many(entries=entries)
    stored = list(AuditEvent.objects.order_by("created_at", "type").values_list("subject_id"))
    assert stored == [("a",), ("b",)]


def test_audit_record_many_applies_each_events_allow_list(db: Any) -> None:
    entries = [
        AuditEntry(type="login.succeeded", actor=None, data={"method": "x"}),
        AuditEntry(type="login.failed", actor=None, data={"method": "x", "password": "p"}),
    ]
    with pytest.raises(AuditDataNotAllowed), transaction.atomic():
        audit_record_many(entries=entries)
    assert not AuditEvent.objects.exists()
