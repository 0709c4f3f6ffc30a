"""`serve` (the HTTP API and UI with the workers beside it) and `demo` (the demo data and
its login tokens).

`serve --processes N` (N > 1, PostgreSQL only): N uvicorn worker processes answer HTTP, each
with a container of its own (``api.app.worker_app``); this process supervises them and runs
the background workers (the log runner with the views and the outbox, Kafka's publisher and
consumer, the schedulers) exactly once, unless ``--no-workers`` (then run `debtcases project`
and the rest beside it). Read-your-writes in the worker processes waits for the runner's
announcements (``Runner.wait_for``)."""

from __future__ import annotations

from typing import Annotated

import typer

from debtcases.config import Settings


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Seed demo data and print tokens on first start")
    ] = False,
    workers: Annotated[
        bool,
        typer.Option(help="Run projections (and Kafka outbox/consumer when configured) in-process"),
    ] = True,
    diagonal_sim: Annotated[
        bool,
        typer.Option(
            "--diagonal-sim",
            help="Embedded mode: answer handover messages with the built-in Diagonal simulator",
        ),
    ] = False,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help="Processes answering HTTP (uvicorn workers; more than 1 needs PostgreSQL). "
            "With more than 1, this process supervises them and runs the background workers",
        ),
    ] = 1,
) -> None:
    """Run the HTTP API (and UI), with the background workers beside it."""
    from debtcases.cli.processes import metrics_shared_by_processes

    # Before anything imports prometheus_client (bootstrap does): it reads its switch then.
    with metrics_shared_by_processes(processes):
        _serve(host, port, demo, workers, diagonal_sim, processes)


def _serve(
    host: str, port: int, demo: bool, workers: bool, diagonal_sim: bool, processes: int
) -> None:
    from debtcases.api.app import create_app
    from debtcases.bootstrap import build_container, database

    settings = Settings()
    settings.run_workers = workers
    settings.diagonal_simulator = diagonal_sim or settings.diagonal_simulator
    if processes > 1 and not database(settings).is_postgres:
        typer.echo(
            f"error: --processes {processes} needs PostgreSQL (DEBTCASES_DATABASE_URL="
            "postgresql://...): the processes share the database and learn of each other's "
            "writes through it. SQLite (the embedded default) and memory:// serve from one "
            "process: leave --processes at 1.",
            err=True,
        )
        raise typer.Exit(2)
    # With several processes this one answers no request: its workers retry what fails, so
    # its pools hand out connections unchecked (bootstrap.database).
    container = build_container(settings, pre_ping=processes == 1)
    if demo or settings.demo:
        _seed_and_print_tokens(container)
    typer.echo(f"Anmelden (Web-Oberfläche): http://{host}:{port}/anmelden")
    if processes == 1:
        import signal

        import uvicorn

        container.start_workers()
        app = create_app(container)
        # uvicorn shuts down on SIGTERM, then raises it again under the handler it found:
        # under the default one that ended the process before the workers were stopped.
        previous = signal.signal(signal.SIGTERM, _exit_after_sigterm)
        try:
            uvicorn.run(app, host=host, port=port, log_level="info")
        finally:
            container.close()
            signal.signal(signal.SIGTERM, previous)
        return
    from debtcases.api.web.session import load_secret

    # The workers read one secret (a generated one is written once, here, before them).
    load_secret(settings.session_secret)
    if workers:
        container.start_workers()
    else:
        container.close()  # it only set up the database (and seeded the demo data)
    from debtcases.cli.processes import run_worker_processes

    try:
        code = run_worker_processes(processes, host, port)
    finally:
        if workers:
            container.close()
    if code:
        raise typer.Exit(code)


def _exit_after_sigterm(_signum: int, _frame: object) -> None:
    """SIGTERM outside uvicorn's own handling: leave through the ``finally`` blocks (the
    container's close), with exit code 0 as `serve --processes N` has."""
    raise SystemExit(0)


def _seed_and_print_tokens(container: object) -> None:
    from debtcases.bootstrap import Container
    from debtcases.commands.demo import seed_demo, seed_demo_orders
    from debtcases.domain.actors import Role

    assert isinstance(container, Container)
    created = seed_demo(container.cases)
    seed_demo_orders(container.orders, container.clock())
    if not created:
        typer.echo(
            "Demo data already present (tokens were printed on first start; "
            "create more with `debtcases keys create`)."
        )
        return
    support = container.keys.create(Role.SUPPORT, name="demo-support")
    vendor = container.keys.create(Role.VENDOR, user_id=79424)
    vendor2 = container.keys.create(Role.VENDOR, user_id=51234)
    system = container.keys.create(Role.SYSTEM, name="demo-intake")
    typer.echo(f"Demo data: {len(created)} cases admitted.")
    typer.echo("Login tokens (shown only now):")
    typer.echo(f"  support (Schulden)            {support}")
    typer.echo(f"  vendor 79424 (Inkasso-Beta)   {vendor}")
    typer.echo(f"  vendor 51234 (Inkasso-Beta)   {vendor2}")
    typer.echo(f"  system (order intake)         {system}")


def demo() -> None:
    """Seed the demo data into the configured database and print tokens."""
    from debtcases.bootstrap import build_container

    container = build_container(Settings())
    try:
        _seed_and_print_tokens(container)
    finally:
        container.close()
