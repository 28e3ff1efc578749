"""`permissions` and `objects` keep no dependency on `accounts` (spec §1 principle 6)."""

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
