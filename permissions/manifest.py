"""A service's declaration of itself: its registry entry, its scopes and the roles it ships.

A manifest is checked whole before anything is written; every problem is reported with its
path (`scopes[1].name: ...`). A valid manifest becomes a plan: what to create, update and
delete so the registry says what the file says. Applying the plan runs it in one transaction
through the registry's and roles' services, so a failure at any step leaves nothing behind,
and applying the same manifest again changes nothing and records no audit event.

A manifest owns its service and that service's scopes. Roles are platform-wide: a manifest
creates or updates the roles it names (their scopes become the manifest's), and a later
manifest of another service may change them again. Scopes of the service missing from the
manifest are kept unless pruning is asked for, which deletes them, and never one still in use.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import DEFAULT_DB_ALIAS, transaction

from micro_platform import scopes as sc
from permissions import catalogue, registry, roles
from permissions.models import Role, Scope, Service

SERVICE_KEYS = frozenset({"name", "audience", "description"})
SCOPE_KEYS = frozenset({"name", "description"})
ROLE_KEYS = frozenset({"name", "description", "scopes"})
TOP_KEYS = frozenset({"service", "scopes", "roles"})
MAX_MANIFEST_BYTES = 1_000_000


class ManifestError(Exception):
    """The manifest cannot be applied; `problems` are `path: message` lines."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


# --- Reading ------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last)."""


def _mapping_without_duplicates(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if not isinstance(key, str | int | float | bool | type(None)):
            raise ManifestError([f"line {line}: a key must be plain text"])
        if key in result:
            raise ManifestError([f"line {line}: the key {key!r} is given twice"])
        result[key] = loader.construct_object(value_node, deep=True)
    return result


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping_without_duplicates
)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ManifestError([f"the key {key!r} is given twice"])
        result[key] = value
    return result


def parse(text: str, *, as_json: bool) -> object:
    """The document in `text`, JSON or YAML (safe: plain data only); ManifestError if neither."""
    if len(text.encode()) > MAX_MANIFEST_BYTES:
        raise ManifestError([f"the manifest is larger than {MAX_MANIFEST_BYTES} bytes"])
    try:
        if as_json:
            return json.loads(text, object_pairs_hook=_json_object)
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a safe loader
    except json.JSONDecodeError as exc:
        raise ManifestError([f"not valid JSON: {exc}"]) from exc
    except yaml.YAMLError as exc:
        raise ManifestError([f"not valid YAML: {exc}"]) from exc


# --- Checking -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScopeSpec:
    name: str
    description: str


@dataclass(frozen=True)
class RoleSpec:
    name: str
    description: str
    scopes: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    name: str
    audience: str
    description: str
    scopes: tuple[ScopeSpec, ...]
    roles: tuple[RoleSpec, ...]


class _Checker:
    """Collects every problem of a document, each with its path."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(f"{path}: {message}")

    def mapping(self, value: object, path: str, keys: frozenset[str]) -> Mapping[str, Any]:
        if not isinstance(value, dict):
            self.problem(path or "the manifest", "must be a mapping")
            return {}
        for key in value:
            if key not in keys:
                allowed = ", ".join(sorted(keys))
                self.problem(f"{path}.{key}" if path else str(key), f"unknown key ({allowed})")
        return value

    def items(self, value: object, path: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, "must be a list")
            return []
        return value

    def description(self, value: object, path: str) -> str:
        if value is None:
            return ""
        if (
            not isinstance(value, str)
            or len(value) > registry.DESCRIPTION_MAX_LENGTH
            or "\x00" in value
        ):
            self.problem(
                path, f"must be text of at most {registry.DESCRIPTION_MAX_LENGTH} characters"
            )
            return ""
        return value.strip()

    def audience(self, value: object, path: str) -> str:
        text = value.strip() if isinstance(value, str) else ""
        if not 0 < len(text) <= registry.AUDIENCE_MAX_LENGTH or any(
            ch.isspace() or ord(ch) < 32 for ch in text
        ):
            self.problem(
                path,
                f"must be 1-{registry.AUDIENCE_MAX_LENGTH} characters without spaces"
                " (the service's name or its URL)",
            )
        return text

    def name(self, value: object, path: str, pattern: str, regex: Any) -> str:
        if not isinstance(value, str) or not regex.match(value):
            self.problem(path, f"must match {pattern}")
            return ""
        return value


def _check_service(check: _Checker, document: Mapping[str, Any]) -> tuple[str, str, str]:
    if "service" not in document:
        check.problem("service", "is required")
    raw = check.mapping(document.get("service"), "service", SERVICE_KEYS)
    name = check.name(raw.get("name"), "service.name", sc.SERVICE_NAME_PATTERN, sc.SERVICE_NAME)
    if name == sc.BUILT_IN_SERVICE:
        check.problem("service.name", f"{name} is the built-in service; it has no manifest")
    audience = name
    if raw.get("audience") is not None:
        audience = check.audience(raw["audience"], "service.audience")
    description = check.description(raw.get("description"), "service.description")
    return name, audience, description


def _check_scopes(check: _Checker, raw: object, service: str) -> tuple[ScopeSpec, ...]:
    found: dict[str, ScopeSpec] = {}
    for index, item in enumerate(check.items(raw, "scopes")):
        path = f"scopes[{index}]"
        entry = check.mapping(item, path, SCOPE_KEYS)
        name = check.name(entry.get("name"), f"{path}.name", sc.SCOPE_NAME_PATTERN, sc.SCOPE_NAME)
        description = check.description(entry.get("description"), f"{path}.description")
        if not name:
            continue
        if service and name.partition(":")[0] != service:
            check.problem(f"{path}.name", f"a scope of {service} is named {service}:<action>")
        elif name in sc.BUILT_IN_SCOPES:
            check.problem(f"{path}.name", f"{name} is a scope of the built-in service")
        elif name in found:
            check.problem(f"{path}.name", f"{name} is given twice")
        else:
            found[name] = ScopeSpec(name, description)
    return tuple(found.values())


def _check_role_scopes(
    check: _Checker, raw: object, path: str, *, service: str, declared: frozenset[str]
) -> tuple[str, ...]:
    names: set[str] = set()
    registered = catalogue.all_scopes()
    given = check.items(raw, path)
    if len(given) > roles.MAX_ROLE_SCOPES:
        check.problem(path, f"at most {roles.MAX_ROLE_SCOPES} scopes")
        return ()
    for index, name in enumerate(given):
        where = f"{path}[{index}]"
        if not isinstance(name, str):
            check.problem(where, "must be a scope name")
        elif name in names:
            check.problem(where, f"{name} is given twice")
        elif service and name.partition(":")[0] == service and name not in declared:
            check.problem(where, f"{name} is not among this manifest's scopes")
        elif name not in declared and name not in registered:
            check.problem(where, f"unknown scope {name}")
        else:
            names.add(name)
    return tuple(sorted(names))


def _check_roles(
    check: _Checker, raw: object, *, service: str, declared: frozenset[str]
) -> tuple[RoleSpec, ...]:
    found: dict[str, RoleSpec] = {}
    for index, item in enumerate(check.items(raw, "roles")):
        path = f"roles[{index}]"
        entry = check.mapping(item, path, ROLE_KEYS)
        name = check.name(
            entry.get("name"), f"{path}.name", roles.ROLE_NAME_PATTERN, roles.ROLE_NAME
        )
        description = check.description(entry.get("description"), f"{path}.description")
        if "scopes" not in entry and entry:
            check.problem(f"{path}.scopes", "is required (a list of scope names)")
        scopes = _check_role_scopes(
            check, entry.get("scopes"), f"{path}.scopes", service=service, declared=declared
        )
        if name in found:
            check.problem(f"{path}.name", f"{name} is given twice")
        elif name:
            found[name] = RoleSpec(name, description, scopes)
    return tuple(found.values())


def check(document: object) -> Manifest:
    """The manifest `document` declares; ManifestError listing every problem otherwise."""
    checker = _Checker()
    top = checker.mapping(document, "", TOP_KEYS)
    name, audience, description = _check_service(checker, top)
    scopes = _check_scopes(checker, top.get("scopes"), name)
    declared = frozenset(scope.name for scope in scopes)
    role_specs = _check_roles(checker, top.get("roles"), service=name, declared=declared)
    if checker.problems:
        raise ManifestError(checker.problems)
    return Manifest(name, audience, description, scopes, role_specs)


# --- Planning -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One step of a plan: `action` is create, update, delete, keep or unchanged."""

    action: str
    kind: str
    name: str
    fields: tuple[str, ...] = ()
    # The `path` in the manifest the change comes from, for errors found only when writing.
    path: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        text = f"{self.action} {self.kind} {self.name}"
        if self.fields:
            text += f" ({', '.join(self.fields)})"
        if self.action == "keep":
            text += ": not in the manifest (kept; --prune deletes)"
        return text

    def as_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.fields:
            found["fields"] = list(self.fields)
        return found


@dataclass(frozen=True)
class Plan:
    service: str
    changes: tuple[Change, ...]

    def of(self, action: str) -> list[Change]:
        return [change for change in self.changes if change.action == action]

    def summary(self) -> dict[str, Any]:
        return {
            "service": self.service,
            **{
                label: [change.as_dict() for change in self.of(action)]
                for label, action in (
                    ("created", "create"),
                    ("updated", "update"),
                    ("deleted", "delete"),
                    ("kept", "keep"),
                    ("unchanged", "unchanged"),
                )
            },
        }


def _differs(wanted: Mapping[str, Any], row: object) -> tuple[str, ...]:
    return tuple(name for name, value in wanted.items() if getattr(row, name) != value)


def _service_change(manifest: Manifest, service: Service | None) -> Change:
    wanted = {"audience": manifest.audience, "description": manifest.description}
    if service is None:
        return Change("create", "service", manifest.name, path="service", values=wanted)
    if service.built_in:
        raise ManifestError([f"service.name: {service.name} is a built-in service"])
    fields = _differs(wanted, service)
    action = "update" if fields else "unchanged"
    return Change(action, "service", manifest.name, fields, "service", wanted)


def _scope_changes(
    manifest: Manifest, service: Service | None, *, prune: bool, role_scopes: Mapping[str, Any]
) -> list[Change]:
    existing = {scope.name: scope for scope in service.scopes.all()} if service else {}
    changes: list[Change] = []
    for index, spec in enumerate(manifest.scopes):
        path, wanted = f"scopes[{index}]", {"description": spec.description}
        row = existing.pop(spec.name, None)
        if row is None:
            changes.append(Change("create", "scope", spec.name, path=path, values=wanted))
            continue
        fields = _differs(wanted, row)
        changes.append(
            Change("update" if fields else "unchanged", "scope", spec.name, fields, path, wanted)
        )
    for name in sorted(existing):
        if prune:
            _refuse_in_use(name, role_scopes)
        changes.append(Change("delete" if prune else "keep", "scope", name, path="scopes"))
    return changes


def _refuse_in_use(name: str, role_scopes: Mapping[str, Any]) -> None:
    """A scope to prune may be held by no one once the manifest's roles are applied."""
    counts = dict(registry.scope_uses(frozenset({name})).counts)
    counts.pop("roles", None)
    # The roles of the manifest lose the scope in the same change; count the rest as they are.
    held = [r for r in Role.objects.all() if name in role_scopes.get(r.name, r.scopes or ())]
    if held:
        counts["roles"] = len(held)
    uses = registry.Uses({kind: count for kind, count in counts.items() if count})
    if uses:
        raise ManifestError(
            [
                f"scopes: {name} is not in the manifest but is still used by {uses.describe()};"
                " it is kept (take it from them first)"
            ]
        )


def _role_changes(manifest: Manifest) -> list[Change]:
    existing = {
        role.name: role for role in Role.objects.filter(name__in=[r.name for r in manifest.roles])
    }
    changes: list[Change] = []
    for index, spec in enumerate(manifest.roles):
        path = f"roles[{index}]"
        wanted = {"description": spec.description, "scopes": list(spec.scopes)}
        row = existing.get(spec.name)
        if row is None:
            changes.append(Change("create", "role", spec.name, path=path, values=wanted))
            continue
        current = {"description": row.description, "scopes": sorted(row.scopes or ())}
        fields = tuple(name for name in wanted if current[name] != wanted[name])
        changes.append(
            Change("update" if fields else "unchanged", "role", spec.name, fields, path, wanted)
        )
    return changes


def plan(manifest: Manifest, *, prune: bool = False) -> Plan:
    """What applying `manifest` would change in the registry as it stands; reads only."""
    service = Service.objects.filter(name=manifest.name).first()
    service_change = _service_change(manifest, service)
    if service_change.action == "create" or "audience" in service_change.fields:
        _refuse_taken_audience(manifest, service)
    role_scopes = {spec.name: spec.scopes for spec in manifest.roles}
    scopes = _scope_changes(manifest, service, prune=prune, role_scopes=role_scopes)
    # Scopes are written before the roles naming them, and deleted after the roles leave them.
    leaving = [change for change in scopes if change.action in {"delete", "keep"}]
    staying = [change for change in scopes if change not in leaving]
    return Plan(
        service=manifest.name,
        changes=(service_change, *staying, *_role_changes(manifest), *leaving),
    )


def _refuse_taken_audience(manifest: Manifest, service: Service | None) -> None:
    """The registry's rule, checked when planning so that a dry run refuses what applying would:
    neither the audience nor the name may be another service's audience or name."""
    try:
        registry.check_audience_free(manifest.audience, name=manifest.name, service=service)
    except registry.Conflict as exc:
        field = exc.field or "audience"
        value = manifest.name if field == "name" else manifest.audience
        raise ManifestError(
            [f"service.{field}: {value} is the audience or the name of another service"]
        ) from exc


# --- Applying -----------------------------------------------------------------------------------


@contextmanager
def _written_as(change: Change) -> Iterator[None]:
    """A service's refusal reported at the manifest path the change comes from."""
    try:
        yield
    except ValidationError as exc:
        messages = (
            [f"{change.path}.{key}: {' '.join(msgs)}" for key, msgs in exc.message_dict.items()]
            if hasattr(exc, "error_dict")
            else [f"{change.path}: {' '.join(exc.messages)}"]
        )
        raise ManifestError(messages) from exc
    except registry.Conflict as exc:
        where = f"{change.path}.{exc.field}" if exc.field else change.path
        raise ManifestError([f"{where}: {exc.message}"]) from exc
    except ObjectDoesNotExist as exc:  # deleted by someone else since the plan was made
        raise ManifestError(
            [f"{change.path}: {change.kind} {change.name} changed meanwhile; apply again"]
        ) from exc


def apply(the_plan: Plan) -> None:
    """Runs the plan in one transaction (the registry's and the audit trail's), or not at all."""
    # The registry first, the audit trail inside it: the events commit first when the two are
    # separate databases, as every registry change does (permissions.registry).
    with catalogue.changing(), transaction.atomic(using=DEFAULT_DB_ALIAS):
        service = _apply_service(the_plan.changes[0])
        for change in the_plan.changes[1:]:
            with _written_as(change):
                if change.kind == "scope":
                    _apply_scope(change, service)
                elif change.kind == "role":
                    _apply_role(change)


def _apply_service(change: Change) -> Service:
    with _written_as(change):
        if change.action == "create":
            return registry.service_create(actor=None, name=change.name, **change.values)
        service = Service.objects.get(name=change.name)
        if change.action == "update":
            registry.service_update(actor=None, service=service, **change.values)
        return service


def _apply_scope(change: Change, service: Service) -> None:
    if change.action == "create":
        registry.scope_create(actor=None, service=service, name=change.name, **change.values)
    elif change.action == "update":
        scope = Scope.objects.get(name=change.name)
        registry.scope_update(actor=None, scope=scope, **change.values)
    elif change.action == "delete":
        registry.scope_delete(actor=None, scope=Scope.objects.get(name=change.name))


def _apply_role(change: Change) -> None:
    if change.action == "create":
        roles.role_create(actor=None, name=change.name, **change.values)
    elif change.action == "update":
        role = Role.objects.get(name=change.name)
        roles.role_update(actor=None, role=role, **change.values)
