"""The documentation lives in the repository and keeps step with the code: the README links
only into the repository, docs/api.md names every served path and query parameter, and
docs/operations.md every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from debtcases.api.app import create_app
from debtcases.bootstrap import build_container
from debtcases.config import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCS = ["docs/api.md", "docs/domain.md", "docs/diagonal.md", "docs/operations.md"]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("name", ["README.md", *DOCS])
def test_links_stay_inside_the_repository(name: str) -> None:
    path = ROOT / name
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text
    for target in LINK.findall(text):
        if target.startswith(("http://", "https://", "#")):
            continue
        file = (path.parent / target.split("#", 1)[0]).resolve()
        assert file.is_file(), f"{name} links to {target}, which is not in the repository"
        assert ROOT in file.parents


def test_the_readme_links_every_document_and_names_the_openapi_document() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for doc in DOCS:
        assert f"]({doc})" in readme
    assert "/openapi.json" in readme and "Swagger UI" in readme


def _openapi() -> dict[str, object]:
    container = build_container(Settings(database_url="memory://"))
    try:
        return create_app(container).openapi()
    finally:
        container.close()


def test_the_api_document_names_every_served_path_and_query_parameter() -> None:
    api = (ROOT / "docs/api.md").read_text(encoding="utf-8")
    paths = _openapi()["paths"]
    assert isinstance(paths, dict)
    for path, operations in paths.items():
        assert path in api, f"docs/api.md does not describe {path}"
        for operation in operations.values():
            for param in operation.get("parameters", []):
                if param["in"] == "query":
                    name = param["name"]
                    assert f"`{name}" in api or f"{name}=" in api, f"{path}: {name}"


def test_the_operations_document_lists_every_setting() -> None:
    ops = (ROOT / "docs/operations.md").read_text(encoding="utf-8")
    for field in Settings.model_fields:
        assert f"DEBTCASES_{field.upper()}" in ops, field
