"""The worker processes of `serve --processes N`: N uvicorn servers, each in a process of its
own with its own listening socket on the same port (``SO_REUSEPORT``), kept running by the
process that started them.

Why not ``uvicorn.run(..., workers=N)``: its processes share one listening socket, and when
32 keep-alive clients connect at once the first process to wake accepts them all (measured:
one process served nearly every request, the other idled). With a socket each, the kernel
spreads the connections over the processes. And uvicorn binds that socket with protocol 0,
so asyncio never turns TCP_NODELAY on for the accepted connections (uvicorn issue #3149):
every keep-alive request after the first waited ~40 ms for the client's delayed ACK.

Metrics: each process counts what it does (the workers their requests, this process the
runner, the outbox, Kafka), so with several processes ``metrics_shared_by_processes`` gives
them one directory for prometheus_client's per-process files, and whichever worker answers
/metrics adds up all of them (``api.metrics.exposition``).

The sockets stay open here, so a connection made while a worker restarts waits in its
socket's backlog for the replacement. On SIGTERM/SIGINT each serving worker gets SIGTERM
(uvicorn finishes the requests in flight, then its container closes) and all get 30 s
together; one still starting is killed at once (it has answered nothing). A worker that
dies is replaced; one that cannot start (uvicorn's startup failure: the app factory
failed, e.g. the database is unreachable) stops them all, as uvicorn's own supervisor does.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from multiprocessing.process import BaseProcess
from typing import Any

APP = "debtcases.api.app:worker_app"

log = logging.getLogger("uvicorn.error")


# prometheus_client's switch (named here, not imported: it must be set before the library is).
MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"


@contextlib.contextmanager
def metrics_shared_by_processes(processes: int) -> Iterator[str | None]:
    """With more than one process: a fresh, empty directory for prometheus_client's
    per-process metric files, named in the environment the spawned workers inherit, removed
    afterwards (metric files only). A directory the operator set (``PROMETHEUS_MULTIPROC_DIR``,
    e.g. to add `debtcases project` on the same machine) is used as it is and kept. One
    process alone keeps the default in-memory registry. Yields the directory in use."""
    given = os.environ.get(MULTIPROCESS_DIR_ENV)
    if processes == 1 or given:
        yield given
        return
    if "prometheus_client" in sys.modules:
        # Its metrics would already live in memory, unseen by the other processes.
        raise RuntimeError("prometheus_client was imported before the metrics directory was set")
    path = tempfile.mkdtemp(prefix="debtcases-metrics-")
    os.environ[MULTIPROCESS_DIR_ENV] = path
    try:
        yield path
    finally:
        del os.environ[MULTIPROCESS_DIR_ENV]
        shutil.rmtree(path, ignore_errors=True)


def listener(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` that others may bind too (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def _serve(config: Any, sock: socket.socket, started: Any) -> None:
    """One worker process: uvicorn on its own socket (in a spawned interpreter); sets
    ``started`` (a multiprocessing Event) once it serves."""
    import uvicorn

    config.configure_logging()
    server = uvicorn.Server(config)

    def tell_when_started() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.05)
        started.set()

    threading.Thread(target=tell_when_started, name="started", daemon=True).start()
    with contextlib.suppress(KeyboardInterrupt):  # stopped by the supervisor: nothing to say
        server.run(sockets=[sock])


def run_worker_processes(processes: int, host: str, port: int) -> int:
    """Serve ``APP`` from ``processes`` processes until SIGINT/SIGTERM; returns the exit
    code (0, or 1 when a worker could not start)."""
    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    config = uvicorn.Config(APP, factory=True, host=host, port=port, log_level="info")
    first = listener(host, port)
    port = first.getsockname()[1]  # (port 0 asked for a free one: the others take it too)
    sockets = [first, *(listener(host, port) for _ in range(processes - 1))]
    log.info("Uvicorn running on http://%s:%d with %d processes", host, port, processes)
    spawn = multiprocessing.get_context("spawn")
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }

    started: list[Any] = [None] * processes  # each process's Event: serving

    def start(i: int) -> BaseProcess:
        started[i] = spawn.Event()
        process = spawn.Process(
            target=_serve, args=(config, sockets[i], started[i]), name=f"debtcases-http-{i}"
        )
        process.start()
        return process

    workers = [start(i) for i in range(processes)]
    code = 0
    try:
        while not stop.wait(0.5):
            for i, process in enumerate(workers):
                if process.is_alive():
                    continue
                if process.exitcode == STARTUP_FAILURE:
                    log.error("worker process [%s] failed to start; stopping", process.pid)
                    code = 1
                    stop.set()
                    break
                log.warning(
                    "worker process [%s] died (%s); starting another", process.pid, process.exitcode
                )
                workers[i] = start(i)
    finally:
        for i, process in enumerate(workers):
            if not process.is_alive():
                continue
            if started[i].is_set():
                process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
            else:
                # Still starting (its container waits for the database, perhaps one that is
                # gone): it has answered nothing yet, so nothing is in flight to finish.
                process.kill()
        deadline = time.monotonic() + 30  # for all of them (they stop side by side)
        for process in workers:
            process.join(timeout=max(0.0, deadline - time.monotonic()))
        for process in workers:
            if process.is_alive():
                process.kill()
                process.join()
        for sock in sockets:
            sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code
