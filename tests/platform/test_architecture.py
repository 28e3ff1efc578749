"""The one-way architecture (docs/architecture.md): the import contracts in pyproject.toml hold,
and no model points across the service boundaries that imports cannot show."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[2]


def contracts() -> dict[str, str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return {contract["name"]: contract["type"] for contract in config["contracts"]}


def test_the_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(  # noqa: S603 - the venv's own tool, no input
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(contracts())} kept, 0 broken" in result.stdout


def test_every_boundary_has_its_contract() -> None:
    assert sorted(contracts().values()) == [
        "acyclic_siblings",
        "forbidden",
        "forbidden",
        "forbidden",
        "layers",
        "protected",
    ]


def test_only_the_composition_root_is_exempt() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    ignored = [
        rule for contract in config["contracts"] for rule in contract.get("ignore_imports", [])
    ]
    importers = {rule.split(" -> ")[0] for rule in ignored}
    assert importers <= {"micro_platform.settings.base", "micro_platform.urls"}


def test_no_foreign_key_leaves_objects_or_permissions() -> None:
    """Grants and objects hold user and group ids only and may live in another database."""
    for label in ("objects", "permissions"):
        for model in apps.get_app_config(label).get_models():
            remote = {
                getattr(field.related_model, "_meta").app_label  # noqa: B009
                for field in model._meta.get_fields()
                if field.is_relation and field.related_model is not None
            }
            assert remote <= {label}, model
