"""Every (role, command, own/other vendor) over HTTP gives the answer api.md promises:
403 for a role that may never do it, 404 for another vendor's order (exactly as unknown),
and success otherwise. Each command is tried on a case in a status where support may do it,
so the answer is about permission, not about the status."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor
from tests.builders import DEBTOR as GOOD

BAD = Debtor("Tobias Weiß", "Musterweg", "123", "Köln", "DE")
OWNER_ID = 79424
SUPPORT = Actor.support("setup")

# command -> (prepared status, path suffix, body)
COMMANDS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "start": ("LOCKED", "start", {}),
    "hand-over": ("RUNNING", "hand-over", {"reason": "manuell"}),
    "cancel": ("RUNNING", "cancel", {"reason": "storniert"}),
    "block": ("RUNNING", "block", {"reason": "pausiert"}),
    "unblock": ("BLOCKED", "unblock", {"reason": "weiter"}),
    "mark-paid": ("RUNNING", "mark-paid", {"reason": "bezahlt", "reference": "ZE-1"}),
    "address": ("FAILED", "address", {"reason": "korrigiert", "debtor": GOOD.as_dict()}),
}

# (command, caller) -> expected HTTP status. Callers: support, own (the case's vendor),
# other (another vendor), system.
EXPECTED: dict[tuple[str, str], int] = {
    ("start", "support"): 200,
    ("start", "own"): 200,
    ("start", "other"): 404,
    ("start", "system"): 403,
    ("hand-over", "support"): 200,
    ("hand-over", "own"): 403,
    ("hand-over", "other"): 403,
    ("hand-over", "system"): 403,
    ("cancel", "support"): 200,
    ("cancel", "own"): 200,
    ("cancel", "other"): 404,
    ("cancel", "system"): 403,
    ("block", "support"): 200,
    ("block", "own"): 403,
    ("block", "other"): 403,
    ("block", "system"): 403,
    ("unblock", "support"): 200,
    ("unblock", "own"): 403,
    ("unblock", "other"): 403,
    ("unblock", "system"): 403,
    ("mark-paid", "support"): 200,
    ("mark-paid", "own"): 403,
    ("mark-paid", "other"): 403,
    ("mark-paid", "system"): 403,
    ("address", "support"): 200,
    ("address", "own"): 403,
    ("address", "other"): 403,
    ("address", "system"): 403,
}


@pytest.fixture
def world(make_container: Callable[..., Container]) -> tuple[Container, TestClient, dict[str, str]]:
    container = make_container("memory://")
    tokens = {
        "support": container.keys.create(Role.SUPPORT, name="anna"),
        "own": container.keys.create(Role.VENDOR, user_id=OWNER_ID),
        "other": container.keys.create(Role.VENDOR, user_id=11111),
        "system": container.keys.create(Role.SYSTEM, name="intake"),
    }
    return container, TestClient(create_app(container)), tokens


def _prepare(container: Container, order_id: str, status: str) -> None:
    cases = container.cases
    debtor = BAD if status == "FAILED" else GOOD
    cases.admit(Admission(order_id, OWNER_ID, Decimal("10.00"), "EUR", debtor), Actor.system("t"))
    if status in ("RUNNING", "FAILED", "BLOCKED"):
        cases.start_dunning(order_id, SUPPORT)
    if status == "BLOCKED":
        cases.block(order_id, SUPPORT, "setup")
    assert cases.get_case(order_id, SUPPORT).status.value == status


@pytest.mark.parametrize(("command", "caller"), sorted(EXPECTED))
def test_permission_table(world: Any, command: str, caller: str) -> None:
    container, client, tokens = world
    prepared, suffix, body = COMMANDS[command]
    order_id = f"B-{command}-{caller}"
    _prepare(container, order_id, prepared)
    response = client.post(
        f"/api/v1/cases/{order_id}/{suffix}",
        json=body,
        headers={"Authorization": f"Bearer {tokens[caller]}"},
    )
    assert response.status_code == EXPECTED[(command, caller)], response.text
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        after = container.cases.get_case(order_id, SUPPORT)
        assert (
            after.status.value == prepared
            and after.version == ({"LOCKED": 1, "RUNNING": 2, "FAILED": 2, "BLOCKED": 3}[prepared])
        )


@pytest.mark.parametrize(
    ("caller", "expected"), [("support", 201), ("system", 201), ("own", 403), ("other", 403)]
)
def test_only_support_and_system_admit_orders(world: Any, caller: str, expected: int) -> None:
    _, client, tokens = world
    response = client.post(
        "/api/v1/cases",
        headers={"Authorization": f"Bearer {tokens[caller]}"},
        json={
            "order_id": f"B-new-{caller}",
            "user_id": OWNER_ID,
            "amount": "49.90",
            "currency": "EUR",
            "debtor": GOOD.as_dict(),
        },
    )
    assert response.status_code == expected, response.text


@pytest.mark.parametrize("path", ["", "/history"])
@pytest.mark.parametrize(
    ("caller", "expected"), [("support", 200), ("own", 200), ("other", 404), ("system", 403)]
)
def test_reading_a_case(world: Any, path: str, caller: str, expected: int) -> None:
    container, client, tokens = world
    _prepare(container, "B-read", "LOCKED")
    response = client.get(
        f"/api/v1/cases/B-read{path}", headers={"Authorization": f"Bearer {tokens[caller]}"}
    )
    assert response.status_code == expected, response.text
    if caller == "other":
        unknown = client.get(
            f"/api/v1/cases/B-unknown{path}", headers={"Authorization": f"Bearer {tokens[caller]}"}
        )
        assert unknown.status_code == 404
        assert unknown.json()["title"] == response.json()["title"]
        assert unknown.json()["code"] == response.json()["code"]


@pytest.mark.parametrize("token", [None, "", "dc_not-a-real-token"])
def test_missing_or_invalid_tokens_get_401(world: Any, token: str | None) -> None:
    _, client, _ = world
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    response = client.get("/api/v1/cases/B-1", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"
