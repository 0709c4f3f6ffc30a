"""The data: CSV `export` and `import`, the read models (`project`, `rebuild`) and the
events they could not write (`parked list | retry`)."""

from __future__ import annotations

from typing import Annotated

import typer

from debtcases.config import Settings

parked_app = typer.Typer(
    help="Events a view or the outbox could not write, set aside (list, retry).",
    no_args_is_help=True,
)


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
        f = CaseFilter(order_id, user_id, statuses, month)
        chunks = export.export_csv_rows(views.export_rows(f, Role.SUPPORT, None), sep)
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


def project(
    batch_size: Annotated[int, typer.Option(help="Events per view transaction")] = 500,
) -> None:
    """Run the projections as their own process (until SIGTERM/SIGINT); start `serve`
    with --no-workers beside it."""
    import signal
    import threading

    from debtcases.bootstrap import build_container

    # The runner retries a failed batch: no checking round trip per pooled connection.
    container = build_container(Settings(), pre_ping=False)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    runner = container.runner
    runner.batch_size = batch_size
    typer.echo(f"projecting (positions {runner.positions()}); Ctrl-C stops", err=True)
    # The runner in its threads, so that a stop does not wait in this one for a database
    # that is gone: Container.close stops them (the batch in hand finishes).
    runner.start()
    try:
        stop.wait()
    finally:
        container.close()


def rebuild(
    projection: Annotated[
        list[str] | None,
        typer.Option("--projection", help="Only this view (cases | vendor_access); repeatable"),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Events per transaction")] = 5000,
    cases_in_memory: Annotated[
        int,
        typer.Option(help="Cases each view holds in memory (≈ 3.5 KB each) before writing out"),
    ] = 200_000,
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
            container.views, container.cases, projection or None, batch_size, cases_in_memory
        )
        for r in results:
            typer.echo(
                f"{r.view}: generation {r.generation} live, {r.events} events in "
                f"{r.seconds:.1f}s ({r.events_per_second:,.0f} events/s)"
            )
    finally:
        container.close()
