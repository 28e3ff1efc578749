"""`permissions` and `objects` keep no dependency on `accounts`: they may use their own database."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(package: str) -> set[str]:
    modules: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                modules.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                modules.add(node.module)
    return modules


@pytest.mark.parametrize("package", ["permissions", "objects"])
def test_package_never_imports_accounts(package: str) -> None:
    offending = {name for name in imported_modules(package) if name.split(".")[0] == "accounts"}
    assert offending == set()


def test_permissions_never_imports_objects() -> None:
    assert not {name for name in imported_modules("permissions") if name.startswith("objects")}


def test_objects_uses_permissions_only_through_its_services_and_selectors() -> None:
    """As an independent service would: no direct access to the grants table."""
    used = {name for name in imported_modules("objects") if name.split(".")[0] == "permissions"}
    assert used <= {"permissions.services", "permissions.selectors"}
    assert used


def test_no_foreign_key_leaves_objects_or_permissions() -> None:
    from django.apps import apps

    for label in ("objects", "permissions"):
        for model in apps.get_app_config(label).get_models():
            remote = {
                getattr(field.related_model, "_meta").app_label  # noqa: B009
                for field in model._meta.get_fields()
                if field.is_relation and field.related_model is not None
            }
            assert remote <= {label}, model
