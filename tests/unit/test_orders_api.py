"""Orders over HTTP: the facts intake and history, the eligibility explainer in every
verdict, the scheduler (idempotent, deterministic, missing -> in_dunning), manual admission
(by hand, by whom, why; `?admitted=manual`), and the checks every request gets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from debtcases.api.app import create_app
from debtcases.bootstrap import Container
from debtcases.domain.actors import Actor, Role
from tests.facts_builders import T0, facts_json, returned_debit, unpaid_invoice

NOW = datetime(2024, 6, 5, 12, 0, tzinfo=UTC)  # B-1 due since 05-29, B-2 due on 06-11


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Api:
    def __init__(self, client: TestClient, container: Container, clock: Clock) -> None:
        self.client = client
        self.container = container
        self.clock = clock
        keys = container.keys
        self.support = _bearer(keys.create(Role.SUPPORT, name="anna"))
        self.vendor = _bearer(keys.create(Role.VENDOR, user_id=79424))
        self.system = _bearer(keys.create(Role.SYSTEM, name="intake"))

    def report(self, *facts: Any, status: int = 200) -> dict[str, Any]:
        body = {"orders": [facts_json(f) for f in facts]}
        r = self.client.post("/api/v1/orders", json=body, headers=self.system)
        assert r.status_code == status, r.text
        return r.json()  # type: ignore[no-any-return]

    def explain(self, order_id: str, **params: Any) -> dict[str, Any]:
        r = self.client.get(
            f"/api/v1/orders/{order_id}/eligibility", params=params, headers=self.support
        )
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["memory", "sqlite"])
def api(
    request: pytest.FixtureRequest, tmp_path: Any, make_container: Callable[..., Container]
) -> Iterator[Api]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/c.sqlite"
    clock = Clock(T0)
    container = make_container(url, admit_due_interval_seconds=0)
    container.clock = clock
    container.orders.clock = clock
    container.cases.clock = clock
    container.start_workers()
    with TestClient(create_app(container)) as client:
        yield Api(client, container, clock)


def test_facts_are_kept_in_versions_and_an_equal_snapshot_changes_nothing(api: Api) -> None:
    first = api.report(returned_debit("B-1"), unpaid_invoice("B-2"))
    assert (first["recorded"], first["unchanged"]) == (2, 0)
    again = api.report(returned_debit("B-1"))
    assert again["orders"] == [{"order_id": "B-1", "facts_version": 1, "changed": False}]
    api.clock.now = T0 + timedelta(hours=1)
    changed = api.report(returned_debit("B-1", refunded_on=date(2024, 6, 1)))
    assert changed["orders"][0]["facts_version"] == 2
    r = api.client.get("/api/v1/orders/B-1", headers=api.support)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [v["version"] for v in body["history"]] == [1, 2]
    assert body["history"][0]["facts"]["refunded_on"] is None
    assert body["current"]["facts"]["refunded_on"] == "2024-06-01"
    assert body["current"]["recorded_by"] == {"role": "system", "id": "intake"}
    # The explainer names the facts version it used, also as of an earlier moment.
    assert api.explain("B-1")["facts"]["version"] == 2
    assert api.explain("B-1", at=(T0 + timedelta(minutes=5)).isoformat())["facts"]["version"] == 1


def test_the_explainer_answers_every_verdict(api: Api) -> None:
    api.report(
        returned_debit("B-1"),  # due since 2024-05-29
        unpaid_invoice("B-2"),  # due on 2024-06-11
        returned_debit("B-3", dunning_enabled=False),
    )
    api.clock.now = NOW
    missing = api.explain("B-1")
    assert missing["verdict"] == "missing"
    assert "Ticket" in missing["summary"]
    assert missing["due"]["group"] == "ruecklastschrift"
    eligible = api.explain("B-2")
    assert eligible["verdict"] == "eligible_on"
    assert eligible["eligible_on"] == "2024-06-11"
    assert eligible["next_step"]["at"] == eligible["due"]["at"]
    red = api.explain("B-3")
    assert red["verdict"] == "not_eligible"
    assert {"group": "ruecklastschrift", "conditions": ["dunning_enabled"]} in red["blocking"]
    group = next(g for g in red["groups"] if g["id"] == "ruecklastschrift")
    enabled = next(c for c in group["conditions"] if c["id"] == "dunning_enabled")
    assert (enabled["passed"], enabled["observed"], enabled["required"]) == (False, "nein", "ja")
    unknown = api.explain("B-404")
    assert unknown["verdict"] == "unknown_order"
    assert unknown["groups"] == [] and unknown["facts"] is None
    assert unknown["ruleset"]["version"] == "2024.1"
    # The scheduler runs: missing turns into in_dunning, with the version and group.
    r = api.client.post("/api/v1/scheduler/admit-due", headers=api.system)
    assert r.status_code == 200, r.text
    assert r.json()["admitted"] == ["B-1"]
    now_in = api.explain("B-1")
    assert now_in["verdict"] == "in_dunning"
    assert now_in["case"]["status"] == "LOCKED"
    admission = now_in["case"]["admission"]
    assert (admission["admitted_by"], admission["ruleset_version"], admission["group"]) == (
        "scheduler",
        "2024.1",
        "ruecklastschrift",
    )
    # ... and as of a moment before the round it was missing.
    before = api.explain("B-1", at=(NOW - timedelta(seconds=1)).isoformat())
    assert before["verdict"] == "missing"


def test_the_scheduler_twice_at_the_same_moment_admits_nothing_the_second_time(api: Api) -> None:
    api.report(returned_debit("B-1"), returned_debit("B-4"), unpaid_invoice("B-2"))
    orders = api.container.orders
    first = orders.admit_due(NOW)
    assert sorted(first.admitted) == ["B-1", "B-4"]
    second = orders.admit_due(NOW)
    assert second.admitted == [] and second.looked_at == 0
    # B-2 becomes due on 2024-06-11 (00:00 Berlin) and not a microsecond earlier.
    due = datetime(2024, 6, 10, 22, 0, tzinfo=UTC)
    assert orders.admit_due(due - timedelta(microseconds=1)).admitted == []
    assert orders.admit_due(due).admitted == ["B-2"]
    history = api.client.get("/api/v1/cases/B-2/history", headers=api.support).json()
    locked = history["entries"][0]
    assert locked["actor"] == {"role": "system", "id": "scheduler"}
    assert locked["at"].startswith("2024-06-10T22:00:00")
    assert "Regelwerk 2024.1, Gruppe rechnung_raten" in locked["reason"]


def test_the_scheduler_is_deterministic_for_a_given_moment(
    make_container: Callable[..., Container],
) -> None:
    facts = [
        returned_debit(f"B-{i}", failed_on=date(2024, 5, 1) + timedelta(days=i)) for i in range(30)
    ]
    runs = []
    for _ in range(2):
        c = make_container("memory://", run_workers=False)
        c.orders.report(facts, Actor.system("intake"), T0)
        report = c.orders.admit_due(NOW)
        reasons = [c.cases.history(o, Actor.support("x"))[0].reason for o in report.admitted]
        runs.append((report.admitted, reasons))
    assert runs[0] == runs[1]
    assert len(runs[0][0]) == 22  # failed up to 05-22: +14 days <= 06-05


def test_support_admits_by_hand_with_a_reason_and_it_shows_everywhere(api: Api) -> None:
    api.report(returned_debit("B-3", dunning_enabled=False), returned_debit("B-1"))
    api.clock.now = NOW
    path = "/api/v1/orders/B-3/admit"
    assert api.client.post(path, json={}, headers=api.support).status_code == 422
    assert api.client.post(path, json={"reason": "  "}, headers=api.support).status_code == 422
    bad = api.client.post(path, json={"reason": "a\x00b"}, headers=api.support)
    assert bad.status_code == 422
    extra = api.client.post(path, json={"reason": "x", "force": True}, headers=api.support)
    assert extra.status_code == 422
    # Other roles: 403 before the body is looked at.
    for headers in (api.vendor, api.system):
        assert api.client.post(path, json={"bogus": 1}, headers=headers).status_code == 403
    r = api.client.post(
        path, json={"reason": "Vendor bestätigt: Mahnung gewünscht"}, headers=api.support
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["verdict"] == "in_dunning"
    admission = body["case"]["admission"]
    assert admission["admitted_by"] == "manual"
    assert admission["actor"] == {"role": "support", "id": "anna"}
    assert admission["reason"] == "Vendor bestätigt: Mahnung gewünscht"
    assert "von Hand durch anna" in body["summary"]
    # The history says: by hand, by whom, why (and which conditions were red).
    entry = api.client.get("/api/v1/cases/B-3/history", headers=api.support).json()["entries"][0]
    assert entry["actor"] == {"role": "support", "id": "anna"}
    assert entry["reason"].startswith("Von Hand aufgenommen (Regelwerk 2024.1; rot: ")
    assert "ruecklastschrift.dunning_enabled" in entry["reason"]
    assert entry["reason"].endswith("Vendor bestätigt: Mahnung gewünscht")
    order = api.client.get("/api/v1/orders/B-3", headers=api.support).json()
    assert order["admitted_by_hand"]["by"] == {"role": "support", "id": "anna"}
    # Again: it has a case already, nothing changes.
    again = api.client.post(path, json={"reason": "nochmal"}, headers=api.support)
    assert again.status_code == 200
    # The support list's hand-kept list, as a filter.
    api.container.orders.admit_due(NOW)  # admits B-1 by the rules
    api.container.wait_for_views(api.container.cases.recorder.max_notification_id())
    manual = api.client.get(
        "/api/v1/support/cases", params={"admitted": "manual"}, headers=api.support
    ).json()
    assert [i["order_id"] for i in manual["items"]] == ["B-3"] and manual["total"] == 1
    everything = api.client.get("/api/v1/support/cases", headers=api.support).json()
    assert everything["total"] == 2
    wrong = api.client.get(
        "/api/v1/support/cases", params={"admitted": "auto"}, headers=api.support
    )
    assert wrong.status_code == 422
    assert (
        api.client.post(
            "/api/v1/orders/B-404/admit", json={"reason": "x"}, headers=api.support
        ).status_code
        == 404
    )


def test_order_endpoints_check_roles_fields_and_queries(api: Api) -> None:
    good = {"orders": [facts_json(returned_debit("B-1"))]}
    # Intake is the system's: 403 for others before the body is validated.
    for headers in (api.support, api.vendor):
        assert api.client.post("/api/v1/orders", json={"x": 1}, headers=headers).status_code == 403
    assert api.client.post("/api/v1/orders", json=good).status_code == 401
    unknown_field = {"orders": [{**facts_json(returned_debit("B-1")), "colour": "red"}]}
    assert (
        api.client.post("/api/v1/orders", json=unknown_field, headers=api.system).status_code == 422
    )
    control = {"orders": [facts_json(returned_debit("B-1", invoice_number="R\x07"))]}
    assert api.client.post("/api/v1/orders", json=control, headers=api.system).status_code == 422
    name = facts_json(returned_debit("B-1"))
    name["debtor"]["name"] = "Erika\x1b"
    assert (
        api.client.post("/api/v1/orders", json={"orders": [name]}, headers=api.system).status_code
        == 422
    )
    too_many = {"orders": [facts_json(returned_debit(f"B-{i}")) for i in range(1001)]}
    assert api.client.post("/api/v1/orders", json=too_many, headers=api.system).status_code == 422
    twice = {"orders": [facts_json(returned_debit("B-1")), facts_json(returned_debit("B-1"))]}
    assert api.client.post("/api/v1/orders", json=twice, headers=api.system).status_code == 409
    assert (
        api.client.post("/api/v1/orders", json={"orders": []}, headers=api.system).status_code
        == 422
    )
    assert api.client.post("/api/v1/orders", json=good, headers=api.system).status_code == 200
    # The explainer and the facts are support's.
    for path in ("/api/v1/orders/B-1/eligibility", "/api/v1/orders/B-1"):
        assert api.client.get(path, headers=api.vendor).status_code == 403
        assert api.client.get(path, headers=api.system).status_code == 403
    assert api.client.get("/api/v1/orders/B-404", headers=api.support).status_code == 404
    bad_query = api.client.get(
        "/api/v1/orders/B-1/eligibility", params={"when": "x"}, headers=api.support
    )
    assert bad_query.status_code == 422 and "when" in bad_query.text
    naive = api.client.get(
        "/api/v1/orders/B-1/eligibility", params={"at": "2024-06-01T00:00:00"}, headers=api.support
    )
    assert naive.status_code == 422
    assert api.client.post("/api/v1/scheduler/admit-due", headers=api.support).status_code == 403
    assert (
        api.client.get("/api/v1/orders/bad id!/eligibility", headers=api.support).status_code == 422
    )


def test_changing_the_rule_set_never_changes_an_admitted_case(
    tmp_path: Path, make_container: Callable[..., Container]
) -> None:
    url = f"sqlite:///{tmp_path}/c.sqlite"
    c = make_container(url, run_workers=False)
    c.orders.report(
        [returned_debit("B-1"), returned_debit("B-5", failed_on=date(2024, 6, 20))],
        Actor.system("i"),
        T0,
    )
    assert c.orders.admit_due(NOW).admitted == ["B-1"]
    c.close()
    src = (Path(__file__).parents[2] / "src/debtcases/domain/rulesets/default.toml").read_text()
    (tmp_path / "v1.toml").write_text(src)
    (tmp_path / "v2.toml").write_text(
        src.replace('version = "2024.1"', 'version = "2024.2"')
        .replace(
            "active_from = 2024-01-01T00:00:00+01:00", "active_from = 2024-06-06T00:00:00+02:00"
        )
        .replace("offset_days = 14", "offset_days = 60")
    )
    files = [f"{tmp_path}/v1.toml", f"{tmp_path}/v2.toml"]
    c2 = make_container(url, run_workers=False, ruleset_files=files)
    support = Actor.support("x")
    # B-1: admitted under 2024.1, and it stays so.
    e, _ = c2.orders.explain("B-1", support, datetime(2024, 7, 1, tzinfo=UTC))
    assert e.verdict.value == "in_dunning"
    assert e.case is not None and e.case.admission.ruleset_version == "2024.1"
    assert e.ruleset is not None and e.ruleset.version == "2024.2"  # in force now
    # B-5 returned on 06-20: 2024.2 applies (60 days), the due index was recomputed.
    e5, _ = c2.orders.explain("B-5", support, datetime(2024, 7, 10, tzinfo=UTC))
    assert e5.verdict.value == "eligible_on" and e5.due is not None
    assert e5.due.ruleset_version == "2024.2"
    assert c2.orders.admit_due(datetime(2024, 7, 10, tzinfo=UTC)).admitted == []
    assert c2.orders.admit_due(e5.due.at).admitted == ["B-5"]
    assert replace(returned_debit(), order_id="x").order_id == "x"
