"""Twenty threads sending conflicting commands to one case on real PostgreSQL."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from decimal import Decimal

from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.commands.app import Admission
from debtcases.domain.actors import Actor, Role
from debtcases.domain.rules import TRANSITIONS, Command
from tests.builders import DEBTOR as GOOD

SUPPORT = Actor.support("anna")


def test_twenty_threads_on_one_case_leave_a_legal_history_and_the_losers_get_409(
    pg_url: str, make_container: Callable[..., Container]
) -> None:
    container = make_container(pg_url, db_pool_size=10, db_max_overflow=20)
    container.cases.admit(Admission("B-1", 79424, Decimal("10"), "EUR", GOOD), SUPPORT)
    support = container.keys.create(Role.SUPPORT, name="anna")
    vendor = container.keys.create(Role.VENDOR, user_id=79424)
    client = TestClient(create_app(container))
    requests = [
        ("start", vendor, {}),
        ("start", support, {}),
        ("block", support, {"reason": "p"}),
        ("cancel", vendor, {"reason": "s"}),
        ("mark-paid", support, {"reason": "b", "reference": "r"}),
    ] * 4
    barrier = threading.Barrier(len(requests))
    answers: list[int] = []
    unchanged: list[int] = []  # 200s that asked for the status the case already had
    lock = threading.Lock()

    def send(path: str, token: str, body: dict[str, str]) -> None:
        barrier.wait()
        response = client.post(
            f"/api/v1/cases/B-1/{path}", json=body, headers={"Authorization": f"Bearer {token}"}
        )
        with lock:
            answers.append(response.status_code)
            if response.status_code == 200 and response.json()["changed"] is False:
                unchanged.append(200)
        if response.status_code == 409:
            assert response.json()["code"] in ("invalid_transition", "concurrent_modification")

    threads = [threading.Thread(target=send, args=r) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 20
    assert set(answers) <= {200, 409}
    history = container.cases.history("B-1", SUPPORT)
    # Every accepted change is exactly one event; a 200 that changed nothing records none.
    accepted = answers.count(200) - len(unchanged)
    assert accepted == len(history) - 1 >= 1
    assert 409 in answers
    # The history is a legal sequence: each step starts where the last ended, by the rules.
    for earlier, later in itertools.pairwise(history):
        assert later.from_status == earlier.to_status
        command = {
            "DunningStarted": Command.START,
            "Blocked": Command.BLOCK,
            "Cancelled": Command.CANCEL,
            "Paid": Command.MARK_PAID,
        }[later.event]
        role = Role(later.actor["role"])
        assert later.from_status in TRANSITIONS[command][role]
    final = container.cases.get_case("B-1", SUPPORT)
    assert final.status is history[-1].to_status
