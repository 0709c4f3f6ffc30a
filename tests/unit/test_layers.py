"""The domain stays pure: the standard library, eventsourcing.domain and itself only.
(The layer contracts between the packages are import-linter's, in `make lint`.)"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import debtcases.domain

DOMAIN = Path(debtcases.domain.__file__).parent


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _allowed(module: str) -> bool:
    top = module.split(".")[0]
    return (
        top in sys.stdlib_module_names
        or top == "__future__"
        or module == "eventsourcing.domain"
        or module.startswith("debtcases.domain")
    )


def test_the_domain_imports_the_standard_library_and_eventsourcing_domain_only() -> None:
    files = sorted(DOMAIN.glob("*.py"))
    assert len(files) > 5
    offending = {
        f"{path.name}: {module}"
        for path in files
        for module in _imports(path)
        if not _allowed(module)
    }
    assert not offending, sorted(offending)


def test_the_check_itself_refuses_an_outside_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import fastapi\nfrom eventsourcing.persistence import Tracking\n")
    assert {m for m in _imports(bad) if not _allowed(m)} == {
        "fastapi",
        "eventsourcing.persistence",
    }
