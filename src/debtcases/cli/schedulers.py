"""One round of a scheduler, for cron beside or instead of `serve`'s own loops:
`admit-due` (eligibility) and `expire-holds`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from debtcases.config import Settings


def admit_due(
    at: Annotated[
        str | None, typer.Option(help="Run as of this moment (ISO 8601 with offset); default now")
    ] = None,
) -> None:
    """One scheduler round: admit every order whose due date has passed (LOCKED, with the
    rule-set version and group). Idempotent; safe beside `serve`'s own loop."""
    from debtcases.bootstrap import build_container

    now = _moment_option(at)
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
