"""Read-your-writes is bounded; when it gives up, the answer says so (a command's
X-Views-Caught-Up header, the import's `views_caught_up`), instead of a silent 200."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.domain.actors import Role

IMPORT = "/api/v1/support/cases/import"
HEADER = "Bestell-ID;User-ID;Betrag;Währung;Name;Straße;PLZ;Ort;Land;Grund"
CASE = {
    "order_id": "V-1",
    "user_id": 79424,
    "amount": "49.90",
    "currency": "EUR",
    "debtor": {
        "name": "Jana Schäfer",
        "street": "Lindenstraße 12",
        "postal_code": "10969",
        "city": "Berlin",
        "country": "DE",
    },
    "reason": "intake",
}


def _csv(*order_ids: str) -> bytes:
    rows = [
        f"{o};79424;49,90;EUR;Jana Schäfer;Lindenstraße 12;10969;Berlin;DE;Alt" for o in order_ids
    ]
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def _api(container: Container) -> tuple[TestClient, dict[str, str], dict[str, str]]:
    support = container.keys.create(Role.SUPPORT, name="anna")
    system = container.keys.create(Role.SYSTEM, name="intake")
    return (
        TestClient(create_app(container)),
        {"Authorization": f"Bearer {support}"},
        {"Authorization": f"Bearer {system}"},
    )


def test_answers_say_when_the_views_have_not_caught_up(
    tmp_path: Path, make_container: Callable[..., Container]
) -> None:
    # The projecting process is away: read-your-writes waits its (short) timeout in vain.
    container = make_container(
        f"sqlite:///{tmp_path}/v.sqlite", run_workers=False, read_your_writes_timeout_seconds=0.2
    )
    client, support, system = _api(container)
    admitted = client.post("/api/v1/cases", json=CASE, headers=system)
    assert admitted.status_code == 201
    assert admitted.headers["X-Views-Caught-Up"] == "false"
    blocked = client.post("/api/v1/cases/V-1/block", json={"reason": "Pause"}, headers=support)
    assert blocked.status_code == 200
    assert blocked.headers["X-Views-Caught-Up"] == "false"
    imported = client.post(
        IMPORT, headers=support, files={"file": ("liste.csv", _csv("V-2", "V-3"), "text/csv")}
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["created"] == 2
    assert imported.json()["views_caught_up"] is False
    assert imported.headers["X-Views-Caught-Up"] == "false"


def test_answers_say_when_the_views_have_caught_up(
    tmp_path: Path, make_container: Callable[..., Container]
) -> None:
    container = make_container(f"sqlite:///{tmp_path}/v.sqlite")  # projects inline
    client, support, system = _api(container)
    admitted = client.post("/api/v1/cases", json=CASE, headers=system)
    assert admitted.headers["X-Views-Caught-Up"] == "true"
    imported = client.post(
        IMPORT, headers=support, files={"file": ("liste.csv", _csv("V-2"), "text/csv")}
    )
    assert "views_caught_up" not in imported.json()
    assert imported.headers["X-Views-Caught-Up"] == "true"
