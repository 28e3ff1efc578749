"""The package stands alone: what each module may import, and that importing it (or its
contract) never imports Django or anything of the Micro service."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import micro_client
from micro_client import contract

PACKAGE = Path(micro_client.__file__).resolve().parent
SERVER_PACKAGES = {"accounts", "authn", "permissions", "objects", "micro_platform", "audit", "rpc"}


def _imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize(
    ("module", "third_party"),
    [
        ("__init__.py", set()),
        ("contract.py", set()),
        ("verifier.py", {"jwt", "cryptography"}),
        ("drf.py", {"django", "rest_framework"}),
    ],
)
def test_modules_import_only_the_standard_library_and_their_libraries(
    module: str, third_party: set[str]
) -> None:
    roots = _imported_roots(PACKAGE / module) - {"__future__"}
    assert roots - set(sys.stdlib_module_names) <= third_party


def test_the_contract_imports_nothing() -> None:
    assert _imported_roots(PACKAGE / "contract.py") == {"__future__"}


@pytest.mark.parametrize("module", ["micro_client", "micro_client.contract"])
def test_importing_the_package_imports_neither_django_nor_the_service(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted({name.split('.')[0] for name in sys.modules}.intersection("
        f"{sorted({'django', 'rest_framework', *SERVER_PACKAGES})!r})))"
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_the_scopes_api_admin_implies_are_every_other_scope() -> None:
    assert contract.ALL_SCOPES - {contract.API_ADMIN} == contract.SCOPES_IMPLIED_BY_API_ADMIN
    assert contract.API_ADMIN not in contract.SCOPES_IMPLIED_BY_API_ADMIN


def test_the_package_root_exports_the_documented_names() -> None:
    for name in micro_client.__all__:
        assert getattr(micro_client, name) is not None
    assert micro_client.__version__
