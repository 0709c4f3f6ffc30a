"""debtcases: serve, keys, demo (and the read-model / Kafka commands when present)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from debtcases.config import Settings

if TYPE_CHECKING:
    from debtcases.adapters.keys import KeyStore

app = typer.Typer(
    help="Event-sourced dunning cases (Schulden / Inkasso-Beta).",
    no_args_is_help=True,
    add_completion=False,
)
keys_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
db_app = typer.Typer(help="Database setup for operators (PostgreSQL).", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("setup")
def db_setup() -> None:
    """As the owner role (DEBTCASES_DATABASE_OWNER_URL): create the events tables (cases and
    order facts), make them append-only and let the service role (DEBTCASES_DATABASE_URL)
    only read and append events. Idempotent; run it before the first start and after
    upgrades."""
    from debtcases.bootstrap import setup_database

    settings = Settings()
    try:
        tables = setup_database(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for table in tables:
        typer.echo(f"{table}: set up; the service role may only read and append events.")


parked_app = typer.Typer(
    help="Events a view or the outbox could not write, set aside (list, retry).",
    no_args_is_help=True,
)
app.add_typer(parked_app, name="parked")


@app.command()
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
) -> None:
    """Run the HTTP API (and UI), with the background workers beside it."""
    import uvicorn

    from debtcases.api.app import create_app
    from debtcases.bootstrap import build_container

    settings = Settings()
    settings.run_workers = workers
    settings.diagonal_simulator = diagonal_sim or settings.diagonal_simulator
    container = build_container(settings)
    if demo or settings.demo:
        _seed_and_print_tokens(container)
    container.start_workers()
    app = create_app(container)
    typer.echo(f"Anmelden (Web-Oberfläche): http://{host}:{port}/anmelden")
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        container.close()


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


def _key_store() -> KeyStore:
    """The key store of the configured database, for the `keys` commands."""
    from debtcases.adapters.keys import key_store_for
    from debtcases.bootstrap import database, utc_now

    return key_store_for(database(Settings()), clock=utc_now)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="support | vendor | system")],
    user_id: Annotated[int | None, typer.Option("--user-id", help="Vendor User-ID")] = None,
    name: Annotated[str, typer.Option(help="Who holds the key")] = "",
) -> None:
    """Create an API token; the token is the last line of output (shown only once)."""
    from debtcases.domain.actors import Role

    store = _key_store()
    try:
        parsed = Role(role.lower())
        token = store.create(parsed, name=name, user_id=user_id)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(
        f"Created {parsed.value} key{f' for User-ID {user_id}' if user_id else ''}"
        f"{f' ({name})' if name else ''}. Store the token now; it is not kept:"
    )
    typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """Every key ever created: id (hash prefix), role, holder, created, revoked."""
    from rich.console import Console
    from rich.table import Table

    store = _key_store()
    try:
        keys = store.list()
    finally:
        store.close()
    table = Table("key id", "role", "name", "user id", "created", "revoked")
    for k in keys:
        table.add_row(
            k["key_id"],
            k["role"],
            k["name"],
            str(k["user_id"] or ""),
            k["created_at"],
            k["revoked_at"] or "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (hash prefix) from `keys list`")],
) -> None:
    """Revoke a key. The row stays (stamped revoked); running services refuse the token
    within 30 seconds (their lookup cache)."""

    store = _key_store()
    try:
        revoked = store.revoke(key_id.lower())
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    if revoked == 0:
        typer.echo(f"error: no active key with id {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked {revoked} key(s).")


@app.command()
def demo() -> None:
    """Seed the demo data into the configured database and print tokens."""
    from debtcases.bootstrap import build_container

    container = build_container(Settings())
    try:
        _seed_and_print_tokens(container)
    finally:
        container.close()


@app.command("admit-due")
def admit_due(
    at: Annotated[
        str | None, typer.Option(help="Run as of this moment (ISO 8601 with offset); default now")
    ] = None,
) -> None:
    """One scheduler round: admit every order whose due date has passed (LOCKED, with the
    rule-set version and group). Idempotent; safe beside `serve`'s own loop."""
    from datetime import datetime

    from debtcases.bootstrap import build_container

    now = None
    if at is not None:
        try:
            now = datetime.fromisoformat(at)
        except ValueError:
            typer.echo(f"--at: not an ISO 8601 moment: {at!r}", err=True)
            raise typer.Exit(2) from None
        if now.tzinfo is None:
            typer.echo("--at needs a UTC offset (e.g. 2024-06-01T00:00:00+02:00)", err=True)
            raise typer.Exit(2)
    settings = Settings()
    settings.run_workers = False
    container = build_container(settings)
    try:
        report = container.orders.admit_due(now)
    finally:
        container.close()
    typer.echo(
        f"admit-due at {report.now.isoformat()}: {len(report.admitted)} admitted, "
        f"{report.existing} had a case, {report.not_due} no longer due "
        f"({report.looked_at} looked at)"
    )
    for order_id in report.admitted:
        typer.echo(f"  admitted {order_id}")


@app.command("expire-holds")
def expire_holds(
    at: Annotated[
        str | None, typer.Option(help="Run as of this moment (ISO 8601 with offset); default now")
    ] = None,
) -> None:
    """One round of the hold scheduler: end every hold whose end has come (back to the
    status before the block; a broken promise to pay says so). Idempotent; safe beside
    `serve`'s own loop."""
    from debtcases.bootstrap import build_container

    now = _moment_option(at)
    settings = Settings()
    settings.run_workers = False
    container = build_container(settings)
    try:
        container.runner.catch_up()  # the due holds are read from the cases view
        report = container.holds.expire_holds(now)
    finally:
        container.close()
    typer.echo(
        f"expire-holds at {report.now.isoformat()}: {len(report.expired)} ended "
        f"({len(report.promises_broken)} promises broken), {report.unchanged} unchanged, "
        f"{len(report.conflicts)} left for the next round ({report.looked_at} looked at)"
    )
    for order_id in report.expired:
        broken = " (promise broken)" if order_id in report.promises_broken else ""
        typer.echo(f"  ended {order_id}{broken}")


def _moment_option(at: str | None) -> Any:
    """``--at``: an ISO 8601 moment with a UTC offset (exit 2 otherwise), or None."""
    from datetime import datetime

    if at is None:
        return None
    try:
        now = datetime.fromisoformat(at)
    except ValueError:
        typer.echo(f"--at: not an ISO 8601 moment: {at!r}", err=True)
        raise typer.Exit(2) from None
    if now.tzinfo is None:
        typer.echo("--at needs a UTC offset (e.g. 2024-06-01T00:00:00+02:00)", err=True)
        raise typer.Exit(2)
    return now


@app.command("export")
def export_cmd(
    order_id: Annotated[str | None, typer.Option("--order-id", help="One order")] = None,
    user_id: Annotated[int | None, typer.Option("--user-id", help="Vendor User-ID")] = None,
    status: Annotated[str | None, typer.Option(help="Status(es), comma-separated")] = None,
    period: Annotated[str, typer.Option(help="YYYY-MM or all")] = "all",
    sep: Annotated[str, typer.Option(help="';' (Excel-DE, decimal comma) or ','")] = ";",
    output: Annotated[str, typer.Option("--output", "-o", help="File, or - for stdout")] = "-",
) -> None:
    """CSV exportieren: the Schulden list (as support sees it) as a CSV file."""
    import sys

    from debtcases.bootstrap import build_container
    from debtcases.csvformat import export
    from debtcases.domain.actors import Role
    from debtcases.domain.statuses import parse_statuses
    from debtcases.projections.queries import CaseFilter, parse_period

    try:
        statuses = tuple(parse_statuses(status)) if status else ()
        month = parse_period(period)
        if sep not in export.SEPARATORS:
            raise ValueError(f"separator must be ';' or ',', not {sep!r}")
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    container = build_container(Settings())
    try:
        views = container.views
        # Export what the event store holds now: catch the views up (bounded) first.
        head = container.cases.recorder.max_notification_id()
        if not container.wait_for_views(head):
            typer.echo(
                "warning: the views are behind the event store; the export may miss "
                "the latest changes",
                err=True,
            )
        rows = views.iter_cases(CaseFilter(order_id, user_id, statuses, month), Role.SUPPORT, None)
        chunks = export.export_csv(rows, sep)
        if output == "-":
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
            sys.stdout.buffer.flush()
        else:
            with open(output, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            typer.echo(f"Wrote {output}", err=True)
    finally:
        container.close()


@app.command("import")
def import_cmd(
    file: Annotated[str, typer.Argument(help="CSV file (see the README for the columns)")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and report only")] = False,
    actor_name: Annotated[str, typer.Option("--as", help="Support actor name recorded")] = "cli",
) -> None:
    """CSV importieren: admit a legacy dunning list, all rows or none (as support)."""
    import os

    from debtcases.bootstrap import build_container
    from debtcases.commands.imports import import_cases
    from debtcases.csvformat.parse import DEFAULT_IMPORT_REASON
    from debtcases.domain.actors import Actor

    try:
        with open(file, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    container = build_container(Settings())
    try:
        report = import_cases(
            container.cases,
            data,
            Actor.support(actor_name),
            dry_run=dry_run,
            default_reason=f"{DEFAULT_IMPORT_REASON} ({os.path.basename(file)})",
        )
        caught_up = container.wait_for_views(report.position)
    finally:
        container.close()
    for error in report.errors:
        where = f"line {error.line}" if error.line is not None else "file"
        typer.echo(f"{where}: {error.field or '-'}: {error.message}", err=True)
    verdict = (
        "applied"
        if report.applied
        else "valid, not applied (dry run)"
        if report.ok
        else "REJECTED, nothing imported"
    )
    typer.echo(
        f"{verdict}: rows={report.rows} created={report.created} "
        f"unchanged={report.unchanged} errors={len(report.errors)}"
    )
    if not caught_up:
        typer.echo(
            "note: the case lists have not caught up with the import yet (they will shortly)",
            err=True,
        )
    if not report.ok:
        raise typer.Exit(1)


@parked_app.command("list")
def parked_list(
    all_: Annotated[bool, typer.Option("--all", help="Also resolved ones")] = False,
) -> None:
    """List parked events (unresolved unless --all), oldest first."""
    from debtcases.bootstrap import build_container

    container = build_container(Settings(run_workers=False))
    try:
        parked = container.runner.parked(include_resolved=all_)
    finally:
        container.close()
    for p in parked:
        state = f"resolved {p.resolved_at} ({p.resolution})" if p.resolved_at else "UNRESOLVED"
        where = f"{p.processor}:{p.view}" if p.view else p.processor
        typer.echo(
            f"#{p.id} {where} notification={p.notification_id} "
            f"case={p.originator_id} v{p.originator_version} {p.topic.rsplit(':', 1)[-1]} "
            f"attempts={p.attempts} {state}\n    {p.error}"
        )
    typer.echo(f"{sum(1 for p in parked if p.resolved_at is None)} unresolved", err=True)


@parked_app.command("retry")
def parked_retry() -> None:
    """Re-apply every unresolved parked event through the same fold (after deploying a
    fix); exit 1 if some still fail."""
    from debtcases.bootstrap import build_container

    container = build_container(Settings(run_workers=False))
    try:
        results = container.runner.retry_parked()
    finally:
        container.close()
    failing = 0
    for name, (ok, bad) in results.items():
        typer.echo(f"{name}: {ok} resolved, {bad} still failing")
        failing += bad
    if failing:
        raise typer.Exit(1)


@app.command()
def project(
    batch_size: Annotated[int, typer.Option(help="Events per view transaction")] = 500,
) -> None:
    """Run the projections as their own process (until SIGTERM/SIGINT); start `serve`
    with --no-workers beside it."""
    import signal
    import threading

    from debtcases.bootstrap import build_container

    container = build_container(Settings())
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runner = container.runner
    runner.batch_size = batch_size
    typer.echo(f"projecting (positions {runner.positions()}); Ctrl-C stops", err=True)
    try:
        runner.run_forever(stop)
    finally:
        container.close()


@app.command()
def rebuild(
    projection: Annotated[
        list[str] | None,
        typer.Option("--projection", help="Only this view (cases | vendor_access); repeatable"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Events per transaction")] = 5000,
) -> None:
    """Replay the event store into fresh view tables, then switch over (the service keeps
    answering from the old tables meanwhile)."""
    from debtcases.bootstrap import build_container
    from debtcases.projections.rebuild import rebuild_with_progress_bar
    from debtcases.projections.tables import VIEW_NAMES

    unknown = [p for p in projection or [] if p not in VIEW_NAMES]
    if unknown:
        typer.echo(
            f"error: unknown projection {unknown[0]!r}; known: {', '.join(VIEW_NAMES)}", err=True
        )
        raise typer.Exit(2)
    container = build_container(Settings())
    try:
        results = rebuild_with_progress_bar(
            container.views, container.cases, projection or None, batch_size
        )
        for r in results:
            typer.echo(
                f"{r.view}: generation {r.generation} live, {r.events} events in "
                f"{r.seconds:.1f}s ({r.events_per_second:,.0f} events/s)"
            )
    finally:
        container.close()


@app.command()
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
    from debtcases.consumers.consumer import AckConsumer, install_signal_stop

    settings = Settings()
    if not settings.kafka_bootstrap_servers:
        typer.echo("error: DEBTCASES_KAFKA_BOOTSTRAP_SERVERS is not set", err=True)
        raise typer.Exit(2)
    cases = build_cases_app(settings)
    consumer = AckConsumer(cases, settings, client_id=client_id, instance_id=instance_id)
    restore = install_signal_stop(consumer)
    typer.echo(
        f"consuming {settings.kafka_topic_acks} as group "
        f"{settings.kafka_consumer_group}; Ctrl-C stops",
        err=True,
    )
    try:
        consumer.run_until_stopped()
    finally:
        restore()
        cases.close()


@app.command()
def publish() -> None:
    """Record outgoing Diagonal messages from the stored events (outbox) and publish them to
    Kafka, until SIGTERM/SIGINT (for running outside `serve`, which does this itself)."""
    _run_diagonal_workers(simulator=False)


@app.command("diagonal-sim")
def diagonal_sim() -> None:
    """Embedded mode without Kafka: record outgoing messages and answer them with the built-in
    Diagonal simulator (rejects debtor names containing REJECT and postal codes starting
    with 00), until SIGTERM/SIGINT."""
    _run_diagonal_workers(simulator=True)


def _run_diagonal_workers(simulator: bool) -> None:
    import signal
    import threading

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
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    for worker in workers:
        worker.start()
    names = ["outbox", *(getattr(w, "name", "?") for w in workers[1:])]
    typer.echo(f"running {', '.join(names)}; Ctrl-C stops", err=True)
    try:
        stop.wait()
    finally:
        for worker in reversed(workers):
            worker.stop()
        cases.close()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
