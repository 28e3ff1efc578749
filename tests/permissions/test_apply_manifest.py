"""`apply_manifest`: a service registers itself from a file, checked whole, applied atomically
and idempotently."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from audit.models import AuditEvent
from permissions import catalogue, manifest, registry, roles
from permissions.models import Role, Scope, Service
from tests.factories import GroupFactory

pytestmark = pytest.mark.django_db(databases="__all__")

BILLING = """
service:
  name: billing
  audience: https://billing.example
  description: Invoices and payments
scopes:
  - name: billing:read
    description: Read invoices
  - name: billing:write
    description: Issue invoices
roles:
  - name: billing-clerk
    description: Reads invoices and looks people up
    scopes: [billing:read, users:read]
"""


def write(tmp_path: Path, text: str, name: str = "billing.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def apply(*args: str) -> str:
    out = io.StringIO()
    call_command("apply_manifest", *args, stdout=out)
    return out.getvalue()


def registry_rows() -> tuple[list[Any], list[Any], list[Any], int]:
    return (
        list(Service.objects.exclude(built_in=True).values_list("name", "audience", "description")),
        list(Scope.objects.exclude(service__built_in=True).values_list("name", "description")),
        list(Role.objects.values_list("name", "description", "scopes")),
        AuditEvent.objects.count(),
    )


def nothing_written() -> bool:
    return registry_rows() == ([], [], [], 0)


def test_a_yaml_manifest_registers_the_service_its_scopes_and_its_roles(tmp_path):
    output = apply(write(tmp_path, BILLING))

    service = Service.objects.get(name="billing")
    assert (service.audience, service.description) == (
        "https://billing.example",
        "Invoices and payments",
    )
    assert dict(service.scopes.values_list("name", "description")) == {
        "billing:read": "Read invoices",
        "billing:write": "Issue invoices",
    }
    role = Role.objects.get(name="billing-clerk")
    assert role.scopes == ["billing:read", "users:read"]
    assert catalogue.current().service_for("https://billing.example") is not None
    assert "create scope billing:read" in output
    assert "create role billing-clerk" in output
    assert output.splitlines()[-1] == (
        "billing: applied: 4 created, 0 updated, 0 deleted, 0 kept, 0 unchanged"
    )
    types = sorted(AuditEvent.objects.values_list("type", flat=True))
    assert types == ["role.created", "scope.created", "scope.created", "service.created"]
    assert set(AuditEvent.objects.values_list("actor_id", flat=True)) == {None}


def test_a_json_manifest_and_the_audience_defaulting_to_the_name(tmp_path):
    document = {
        "service": {"name": "orders"},
        "scopes": [{"name": "orders:read"}],
        "roles": [{"name": "order-reader", "scopes": ["orders:read"]}],
    }

    apply(write(tmp_path, json.dumps(document), "orders.json"))

    assert Service.objects.get(name="orders").audience == "orders"
    assert Role.objects.get(name="order-reader").scopes == ["orders:read"]


def test_a_manifest_read_from_standard_input(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO(BILLING))

    apply("-")

    assert Scope.objects.filter(name="billing:write").exists()


def test_a_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    output = apply(write(tmp_path, BILLING), "--dry-run")

    assert "create service billing" in output
    assert "dry run, nothing written" in output.splitlines()[-1]
    assert nothing_written()
    assert "billing:read" not in catalogue.all_scopes()


def test_applying_the_same_manifest_twice_changes_nothing_and_records_no_event(tmp_path):
    path = write(tmp_path, BILLING)
    apply(path)
    before = registry_rows()

    output = apply(path, "--json")

    assert registry_rows() == before
    summary = json.loads(output.splitlines()[-1])
    assert (summary["created"], summary["updated"], summary["deleted"]) == ([], [], [])
    assert len(summary["unchanged"]) == 4
    assert output.splitlines()[0] == (
        "billing: applied: 0 created, 0 updated, 0 deleted, 0 kept, 4 unchanged"
    )


def test_a_changed_manifest_updates_what_changed_only(tmp_path):
    apply(write(tmp_path, BILLING))
    changed = (
        BILLING.replace("Read invoices", "Read invoices and receipts")
        .replace("[billing:read, users:read]", "[billing:read, billing:write]")
        .replace("  audience: https://billing.example\n", "")
    )
    seen = list(AuditEvent.objects.values_list("pk", flat=True))

    output = apply(write(tmp_path, changed), "--json")

    assert Service.objects.get(name="billing").audience == "billing"
    assert Scope.objects.get(name="billing:read").description == "Read invoices and receipts"
    assert Role.objects.get(name="billing-clerk").scopes == ["billing:read", "billing:write"]
    summary = json.loads(output.splitlines()[-1])
    assert summary["updated"] == [
        {"kind": "service", "name": "billing", "fields": ["audience"]},
        {"kind": "scope", "name": "billing:read", "fields": ["description"]},
        {"kind": "role", "name": "billing-clerk", "fields": ["scopes"]},
    ]
    new = AuditEvent.objects.exclude(pk__in=seen).values_list("type", flat=True)
    assert sorted(new) == ["role.updated", "scope.updated", "service.updated"]


def test_a_role_of_another_manifest_is_updated_by_a_later_one(tmp_path):
    apply(write(tmp_path, BILLING))
    orders = """
service: {name: orders}
scopes: [{name: orders:read}]
roles:
  - name: billing-clerk
    scopes: [billing:read, orders:read]
"""
    apply(write(tmp_path, orders, "orders.yaml"))

    assert Role.objects.get(name="billing-clerk").scopes == ["billing:read", "orders:read"]


def test_a_scope_left_out_is_kept_unless_pruned(tmp_path):
    apply(write(tmp_path, BILLING))
    without_write = BILLING.replace(
        "  - name: billing:write\n    description: Issue invoices\n", ""
    )
    path = write(tmp_path, without_write)

    output = apply(path)
    assert "keep scope billing:write: not in the manifest (kept; --prune deletes)" in output
    assert Scope.objects.filter(name="billing:write").exists()

    output = apply(path, "--prune")
    assert "delete scope billing:write" in output
    assert not Scope.objects.filter(name="billing:write").exists()
    assert "billing:write" not in catalogue.all_scopes()
    assert AuditEvent.objects.filter(type="scope.deleted").count() == 1


def test_prune_refuses_a_scope_still_in_use_and_writes_nothing(tmp_path):
    apply(write(tmp_path, BILLING))
    group = GroupFactory.create(scopes=["billing:write"])
    without_write = BILLING.replace(
        "  - name: billing:write\n    description: Issue invoices\n", ""
    ).replace("Read invoices", "Read every invoice")
    before = registry_rows()

    with pytest.raises(CommandError, match=r"billing:write .* still used by 1 groups"):
        apply(write(tmp_path, without_write), "--prune")

    assert registry_rows() == before
    group.refresh_from_db()
    assert group.scopes == ["billing:write"]


def test_prune_deletes_a_scope_the_manifest_s_own_role_gives_up(tmp_path):
    apply(write(tmp_path, BILLING.replace("[billing:read, users:read]", "[billing:write]")))
    without_write = BILLING.replace(
        "  - name: billing:write\n    description: Issue invoices\n", ""
    )

    apply(write(tmp_path, without_write), "--prune")

    assert Role.objects.get(name="billing-clerk").scopes == ["billing:read", "users:read"]
    assert not Scope.objects.filter(name="billing:write").exists()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("service: {name: billing, owner: me}", "service.owner: unknown key"),
        ("service: {name: billing}\nextra: 1", "extra: unknown key"),
        (
            "service: {name: Billing}",
            f"service.name: must match {registry.sc.SERVICE_NAME_PATTERN}",
        ),
        ("service: {name: micro}", "service.name: micro is the built-in service"),
        ("scopes: []", "service: is required"),
        ("service: billing", "service: must be a mapping"),
        ("- service", "the manifest: must be a mapping"),
        ("service: {name: billing, description: [a]}", "service.description: must be text"),
        ("service: {name: billing, audience: 'a b'}", "service.audience: must be 1-255"),
        ("service: {name: billing, audience: micro}", "service.audience: micro is the audience"),
        ("service: {name: billing}\nscopes: {name: billing:read}", "scopes: must be a list"),
        ("service: {name: billing}\nscopes: [{name: billing:Read}]", "scopes[0].name: must match"),
        ("service: {name: billing}\nscopes: [{name: orders:read}]", "scopes[0].name: a scope of"),
        ("service: {name: users}\nscopes: [{name: users:read}]", "scopes[0].name: users:read is a"),
        (
            "service: {name: billing}\nscopes: [{name: billing:read}, {name: billing:read}]",
            "scopes[1].name: billing:read is given twice",
        ),
        ("service: {name: billing}\nscopes: [{name: billing:read, x: 1}]", "scopes[0].x: unknown"),
        (
            "service: {name: billing}\nroles: [{name: Clerk, scopes: []}]",
            f"roles[0].name: must match {roles.ROLE_NAME_PATTERN}",
        ),
        ("service: {name: billing}\nroles: [{name: clerk}]", "roles[0].scopes: is required"),
        (
            "service: {name: billing}\nroles: [{name: clerk, scopes: [orders:read]}]",
            "roles[0].scopes[0]: unknown scope orders:read",
        ),
        (
            "service: {name: billing}\nroles: [{name: clerk, scopes: [billing:read]}]",
            "roles[0].scopes[0]: billing:read is not among this manifest's scopes",
        ),
        (
            "service: {name: billing}\nroles: [{name: clerk, scopes: [profile, profile]}]",
            "roles[0].scopes[1]: profile is given twice",
        ),
        (
            "service: {name: billing}\nroles: [{name: c, scopes: []}, {name: c, scopes: []}]",
            "roles[1].name: c is given twice",
        ),
        ("service: {name: billing}\nservice: {name: orders}", "the key 'service' is given twice"),
        ("service: {name: [billing", "not valid YAML"),
        ("? [service]\n: {name: billing}", "line 1: a key must be plain text"),
        (
            "service: {name: billing}\nroles: [{name: c, scopes: [" + "profile, " * 201 + "]}]",
            "roles[0].scopes: at most 200 scopes",
        ),
    ],
)
def test_a_bad_manifest_is_refused_naming_the_path_and_nothing_is_written(tmp_path, text, problem):
    with pytest.raises(CommandError) as refused:
        apply(write(tmp_path, text))

    assert problem in str(refused.value)
    assert nothing_written()


def test_every_problem_of_a_manifest_is_reported_at_once(tmp_path):
    text = """
service: {name: billing, colour: blue}
scopes:
  - {name: billing:read}
  - {name: nope}
roles:
  - {name: clerk, scopes: [billing:nope]}
"""
    with pytest.raises(CommandError) as refused:
        apply(write(tmp_path, text))

    message = str(refused.value)
    for problem in ("service.colour", "scopes[1].name", "roles[0].scopes[0]"):
        assert problem in message


def test_a_json_manifest_with_a_key_twice_is_refused(tmp_path):
    text = '{"service": {"name": "billing", "name": "orders"}}'

    with pytest.raises(CommandError, match="'name' is given twice"):
        apply(write(tmp_path, text, "billing.json"))
    assert nothing_written()


def test_a_failure_while_writing_leaves_nothing_half_applied(tmp_path, monkeypatch):
    def refuse(**kwargs: Any) -> None:
        raise registry.Conflict("duplicate", "A role with this name exists.", field="name")

    monkeypatch.setattr(roles, "role_create", refuse)

    with pytest.raises(CommandError, match=r"roles\[0\]\.name: A role with this name exists"):
        apply(write(tmp_path, BILLING))

    assert nothing_written()
    assert "billing:read" not in catalogue.all_scopes()


def test_a_file_that_is_not_a_manifest_is_refused(tmp_path):
    with pytest.raises(CommandError, match=r"\.yaml, \.yml or \.json"):
        apply(write(tmp_path, BILLING, "billing.txt"))
    with pytest.raises(CommandError, match="cannot read"):
        apply(str(tmp_path / "missing.yaml"))


REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("document", "start", "end"),
    [
        ("README.md", "apply_manifest - <<'YAML'\n", "\nYAML\n"),
        ("docs/permissions.md", "# deploy/micro-manifest.yaml\n", "\n```"),
    ],
)
def test_the_manifests_the_docs_show_apply(tmp_path, document, start, end):
    text = (REPO / document).read_text(encoding="utf-8")
    shown = text.split(start, 1)[1].split(end, 1)[0]

    apply(write(tmp_path, shown))

    assert Role.objects.get(name="billing-clerk").scopes == ["billing:read", "users:read"]


def test_a_scope_deleted_between_the_plan_and_the_writes_is_refused_not_a_crash(tmp_path):
    apply(write(tmp_path, BILLING))
    plan = manifest.plan(
        manifest.check(manifest.parse(BILLING.replace("Read in", "Reads in"), as_json=False))
    )
    registry.scope_delete(actor=None, scope=Scope.objects.get(name="billing:read"), force=True)

    with pytest.raises(manifest.ManifestError, match=r"scopes\[0\]: scope billing:read changed"):
        manifest.apply(plan)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # A `resource` may name a service by its name or its audience: neither may be another's.
        ("service: {name: invoices, audience: orders}", "service.audience: orders is the"),
        ("service: {name: orders-api, audience: x}", "service.name: orders-api is the"),
    ],
)
def test_a_dry_run_refuses_what_applying_would_refuse(tmp_path, text, problem):
    registry.service_create(actor=None, name="orders", audience="https://orders.example")
    registry.service_create(actor=None, name="shipping", audience="orders-api")

    with pytest.raises(CommandError, match=problem):
        apply(write(tmp_path, text), "--dry-run")
    with pytest.raises(CommandError, match=problem):
        apply(write(tmp_path, text))
    assert Service.objects.exclude(built_in=True).count() == 2
