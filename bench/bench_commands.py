"""Commands per second for one client, on SQLite and on PostgreSQL.

    python bench/bench_commands.py [--cases N] [--pg URL]

One client issues commands one after another (admit, Play, block, unblock, mark paid:
five commands per case), once straight against the application and once over HTTP (a real
uvicorn server on 127.0.0.1 and one keep-alive httpx client, so the figure includes the
socket, routing, validation, auth and the read-your-writes wait for the views).
A batch admission figure shows the lever of saving many cases in one transaction.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
import uuid
from decimal import Decimal

import httpx
import uvicorn

from debtcases.api.app import create_app
from debtcases.bootstrap import Container, build_container
from debtcases.commands.app import Admission
from debtcases.config import Settings
from debtcases.domain.actors import Actor, Role
from debtcases.domain.debtor import Debtor

DEBTOR = Debtor("Jana Schäfer", "Lindenstraße 12", "10969", "Berlin", "DE")
INTAKE, SUPPORT, VENDOR = Actor.system("bench"), Actor.support("bench"), Actor.vendor(79424)


def _container(url: str) -> Container:
    return build_container(Settings(database_url=url, read_your_writes_timeout_seconds=0.5))


def bench_app(container: Container, n: int) -> float:
    cases = container.cases
    prefix = uuid.uuid4().hex[:8]
    start = time.perf_counter()
    for i in range(n):
        oid = f"A{prefix}-{i}"
        cases.admit(Admission(oid, 79424, Decimal("10.00"), "EUR", DEBTOR), INTAKE)
        cases.start_dunning(oid, VENDOR)
        cases.block(oid, SUPPORT, "b")
        cases.unblock(oid, SUPPORT, "u")
        cases.mark_paid(oid, SUPPORT, "p", "r")
    return 5 * n / (time.perf_counter() - start)


def bench_batch_admit(container: Container, n: int, batch: int = 100) -> float:
    prefix = uuid.uuid4().hex[:8]
    start = time.perf_counter()
    for b in range(0, n, batch):
        container.cases.admit_many(
            [
                Admission(f"M{prefix}-{i}", 79424, Decimal("10.00"), "EUR", DEBTOR)
                for i in range(b, min(n, b + batch))
            ],
            INTAKE,
        )
    return n / (time.perf_counter() - start)


def _serve(container: Container) -> tuple[uvicorn.Server, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(container), host="127.0.0.1", port=port, log_level="warning")
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return server, f"http://127.0.0.1:{port}"


def bench_http(container: Container, n: int) -> float:
    server, base = _serve(container)
    client = httpx.Client(base_url=base, timeout=30)
    support = {"Authorization": f"Bearer {container.keys.create(Role.SUPPORT, name='b')}"}
    vendor = {"Authorization": f"Bearer {container.keys.create(Role.VENDOR, user_id=79424)}"}
    intake = {"Authorization": f"Bearer {container.keys.create(Role.SYSTEM, name='b')}"}
    prefix = uuid.uuid4().hex[:8]
    start = time.perf_counter()
    for i in range(n):
        oid = f"H{prefix}-{i}"
        client.post(
            "/api/v1/cases",
            headers=intake,
            json={"order_id": oid, "user_id": 79424, "amount": "10.00", "debtor": DEBTOR.as_dict()},
        )
        client.post(f"/api/v1/cases/{oid}/start", headers=vendor, json={})
        client.post(f"/api/v1/cases/{oid}/block", headers=support, json={"reason": "b"})
        client.post(f"/api/v1/cases/{oid}/unblock", headers=support, json={"reason": "u"})
        r = client.post(
            f"/api/v1/cases/{oid}/mark-paid",
            headers=support,
            json={"reason": "p", "reference": "r"},
        )
        assert r.status_code == 200, r.text
    rate = 5 * n / (time.perf_counter() - start)
    client.close()
    server.should_exit = True
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=int(os.environ.get("BENCH_CMD_CASES", 300)))
    parser.add_argument("--pg", default=os.environ.get("DEBTCASES_TEST_DATABASE_URL"))
    args = parser.parse_args()
    backends = [("sqlite", f"sqlite:///{tempfile.mkdtemp()}/bench.sqlite")]
    if args.pg:
        backends.append(("postgres", args.pg))
    print(f"commands per second, one client, {args.cases} cases x 5 commands")
    print(f"{'backend':<10} {'application':>12} {'http':>10} {'batch admit/s':>14}")
    for name, url in backends:
        container = _container(url)
        try:
            app_rate = bench_app(container, args.cases)
            http_rate = bench_http(container, max(args.cases // 2, 1))
            batch_rate = bench_batch_admit(container, args.cases * 5)
        finally:
            container.close()
        print(f"{name:<10} {app_rate:>12.0f} {http_rate:>10.0f} {batch_rate:>14.0f}")


if __name__ == "__main__":
    main()
