"""The Diagonal edge as processes of their own: `consume` the acknowledgements, `publish`
the outbox to Kafka, or answer it with the embedded simulator (`diagonal-sim`)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from debtcases.config import Settings


def consume(
    client_id: Annotated[
        str, typer.Option(help="Kafka client id of this process")
    ] = "debtcases-consumer",
    instance_id: Annotated[
        str | None,
        typer.Option(
            help="Static group membership id: a restarted process with the same id gets its "
            "partitions back at once"
        ),
    ] = None,
) -> None:
    """Consume Diagonal's acknowledgements (topic diagonal.acks) as a member of the consumer
    group, until SIGTERM/SIGINT. Needs DEBTCASES_KAFKA_BOOTSTRAP_SERVERS. Start as many as
    there are partitions; they share them."""
    from debtcases.bootstrap import build_cases_app
    from debtcases.consumers.consumer import AckConsumer

    settings = Settings()
    if not settings.kafka_bootstrap_servers:
        typer.echo("error: DEBTCASES_KAFKA_BOOTSTRAP_SERVERS is not set", err=True)
        raise typer.Exit(2)
    cases = build_cases_app(settings)
    consumer = AckConsumer(cases, settings, client_id=client_id, instance_id=instance_id)
    typer.echo(
        f"consuming {settings.kafka_topic_acks} as group "
        f"{settings.kafka_consumer_group}; Ctrl-C stops",
        err=True,
    )
    _run_until_signalled(settings, cases, [consumer])


def _run_until_signalled(settings: Settings, cases: Any, workers: list[Any]) -> None:
    """Run ``workers`` (threads) until SIGTERM/SIGINT, then stop them together: the batch
    in hand is finished, or, with the database gone, not waited for (bootstrap.stop_workers)."""
    import signal
    import threading

    from debtcases.adapters.database import close_pool_now
    from debtcases.bootstrap import database, stop_workers

    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        for worker in workers:
            worker.start()
        stop.wait()
        stop_workers(
            workers,
            database(settings),
            lambda: close_pool_now(getattr(cases.recorder, "datastore", None)),
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        cases.close()


def publish() -> None:
    """Record outgoing Diagonal messages from the stored events (outbox) and publish them to
    Kafka, until SIGTERM/SIGINT (for running outside `serve`, which does this itself)."""
    _run_diagonal_workers(simulator=False)


def diagonal_sim() -> None:
    """Embedded mode without Kafka: record outgoing messages and answer them with the built-in
    Diagonal simulator (rejects debtor names containing REJECT and postal codes starting
    with 00), until SIGTERM/SIGINT."""
    _run_diagonal_workers(simulator=True)


def _run_diagonal_workers(simulator: bool) -> None:
    from debtcases.bootstrap import build_cases_app, database
    from debtcases.consumers.wiring import build_diagonal
    from debtcases.projections.runner import Runner

    settings = Settings()
    if simulator:
        settings.kafka_bootstrap_servers = None
        settings.diagonal_simulator = True
    elif not settings.kafka_bootstrap_servers:
        typer.echo("error: DEBTCASES_KAFKA_BOOTSTRAP_SERVERS is not set", err=True)
        raise typer.Exit(2)
    cases = build_cases_app(settings)
    edge = build_diagonal(settings, cases, database(settings).kind)
    # The outbox on a log runner of its own, beside the publisher or the simulator.
    runner = Runner(cases, [edge.processor])
    workers: list[Any] = [runner]
    workers += [w for w in edge.workers if getattr(w, "name", "") != "diagonal-acks-consumer"]
    names = ["outbox", *(getattr(w, "name", "?") for w in workers[1:])]
    typer.echo(f"running {', '.join(names)}; Ctrl-C stops", err=True)
    _run_until_signalled(settings, cases, workers)
