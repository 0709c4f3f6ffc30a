"""Rebuild: replay the whole event store into a fresh generation of a view, then switch the
live pointer in one transaction. Queries (and the runner) keep using the old generation
until the switch, so the service answers throughout."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from debtcases.projections.tables import VIEW_NAMES
from debtcases.projections.views import Views

Progress = Callable[[str, int, int], None]  # (view, processed up to, head)


@dataclass(frozen=True)
class RebuildResult:
    view: str
    generation: int
    events: int
    seconds: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else float("inf")


def rebuild(
    views: Views,
    app: Any,  # DunningCases: the notification log and its mapper
    names: Sequence[str] | None = None,
    *,
    batch_size: int = 5000,
    progress: Progress | None = None,
) -> list[RebuildResult]:
    """Rebuild ``names`` (default: every view); returns figures per view."""
    results: list[RebuildResult] = []
    for name in names or VIEW_NAMES:
        if name not in VIEW_NAMES:
            raise ValueError(f"unknown projection {name!r}; known: {', '.join(VIEW_NAMES)}")
        results.append(_rebuild_one(views, app, name, batch_size, progress))
    return results


def _rebuild_one(
    views: Views, app: Any, name: str, batch_size: int, progress: Progress | None
) -> RebuildResult:
    recorder, log = views.recorder, app.recorder
    mapper = app.mapper
    started = time.perf_counter()
    gen = recorder.new_generation(name)

    def between(after: int, upto: int) -> list[tuple[int, object]]:
        """The events after ``after`` up to ``upto`` (those a runner applied meanwhile)."""
        out: list[tuple[int, object]] = []
        while after < upto:
            found = log.select_notifications(after + 1, min(batch_size, upto - after), stop=upto)
            if not found:
                break
            out.extend((n.id, mapper.to_domain_event(n)) for n in found)
            after = found[-1].id
        return out

    position, events = 0, 0
    while True:
        notifications = log.select_notifications(position + 1, batch_size)
        items = [(n.id, mapper.to_domain_event(n)) for n in notifications]
        caught_up = len(notifications) < batch_size
        # The last (short) batch and the switch go in one transaction: nothing is lost
        # between catching up and going live; the runner carries on from here.
        recorder.process(name, gen, items, switch=caught_up, catch_up=between, now=views.clock())
        events += len(items)
        if items:
            position = items[-1][0]
        if progress is not None:
            progress(name, position, max(position, log.max_notification_id() or 0))
        if caught_up:
            break
    recorder.analyze(name, gen)
    recorder.drop_generations_before(name, gen - 1)
    return RebuildResult(name, gen, events, time.perf_counter() - started)


def rebuild_with_progress_bar(
    views: Views, app: Any, names: Sequence[str] | None = None, batch_size: int = 5000
) -> list[RebuildResult]:
    """``rebuild`` with a rich progress bar per view (the CLI)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.progress import (
        Progress as Bar,
    )

    with Bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("events"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ) as bar:
        tasks: dict[str, object] = {}

        def report(view: str, done: int, head: int) -> None:
            if view not in tasks:
                tasks[view] = bar.add_task(f"rebuild {view}", total=head)
            bar.update(tasks[view], completed=done, total=head)  # type: ignore[arg-type]

        return rebuild(views, app, names, batch_size=batch_size, progress=report)
