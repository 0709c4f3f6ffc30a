"""Rebuild: replay the whole event store, read once, into a fresh generation of each view,
then switch each live pointer in one transaction. Queries (and the runner) keep using the
old generation until the switch, so the service answers throughout."""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from debtcases.projections.bulk import MAX_CASES_IN_MEMORY, fresh_view
from debtcases.projections.tables import VIEW_NAMES
from debtcases.projections.views import Views

logger = logging.getLogger(__name__)

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
    max_cases_in_memory: int = MAX_CASES_IN_MEMORY,
) -> list[RebuildResult]:
    """Rebuild ``names`` (default: every view): the log is read and decoded once, feeding
    every fresh generation (``bulk.py``: folded in memory, written in bulk, indexed after
    the load); then each goes live through the runner's incremental path (the events
    since, and the switch under the pointer lock). Returns figures per view; ``seconds``
    is the whole rebuild's (the views share the one pass)."""
    for name in names or VIEW_NAMES:
        if name not in VIEW_NAMES:
            raise ValueError(f"unknown projection {name!r}; known: {', '.join(VIEW_NAMES)}")
    wanted = [v for v in VIEW_NAMES if v in (names or VIEW_NAMES)]
    recorder, log, mapper = views.recorder, app.recorder, app.mapper
    started = time.perf_counter()
    fresh = [fresh_view(recorder, v, recorder.new_generation(v, bulk=True)) for v in wanted]

    position, events = 0, 0
    # The pass allocates millions of small objects and frees them by reference counting
    # (events, states, rows: no cycles); the cyclic collector would only traverse them
    # over and over (≈ 40 % of the pass in a profile). Back on as soon as the pass ends.
    collecting = gc.isenabled()
    gc.disable()
    try:
        for notifications in _batches(log, batch_size, ahead=recorder.kind == "postgres"):
            items = [(n.id, mapper.to_domain_event(n)) for n in notifications]
            if items:
                recorder.bulk_apply(fresh, items, now=views.clock(), max_cases=max_cases_in_memory)
                position = items[-1][0]
                events += len(items)
            if progress is not None:
                head = max(position, log.max_notification_id() or 0)
                for f in fresh:
                    progress(f.view, position, head)
        read = time.perf_counter()
        recorder.bulk_finish(fresh, position)
    finally:
        if collecting:
            gc.enable()
    written = time.perf_counter()
    tails = {f.view: _go_live(views, app, f.view, f.gen, position, batch_size) for f in fresh}
    for f in fresh:
        recorder.drop_generations_before(f.view, f.gen - 1)
    seconds = time.perf_counter() - started
    logger.info(
        "rebuild %s: %d events read and folded in %.1fs, written and indexed in %.1fs, "
        "live after %.1fs",
        ", ".join(wanted),
        events,
        read - started,
        written - read,
        seconds,
    )
    return [RebuildResult(f.view, f.gen, events + tails[f.view], seconds) for f in fresh]


def _batches(log: Any, batch_size: int, ahead: bool) -> Iterator[Sequence[Any]]:
    """The log's notifications in batches of ``batch_size``, to the end. ``ahead``
    (PostgreSQL): the next batch is selected on another connection while the caller folds
    this one, so the database reads the log on one core while Python folds on the other
    (the select waits on the socket without the GIL)."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rebuild-read") as reader:
        after = 0
        pending = reader.submit(log.select_notifications, 1, batch_size) if ahead else None
        while True:
            if pending is None:
                found: Sequence[Any] = log.select_notifications(after + 1, batch_size)
            else:
                found = pending.result()
            full = len(found) == batch_size
            if full and pending is not None:
                pending = reader.submit(log.select_notifications, found[-1].id + 1, batch_size)
            yield found
            if not full:
                return
            after = found[-1].id


def _go_live(views: Views, app: Any, name: str, gen: int, position: int, batch_size: int) -> int:
    """Apply the events after ``position`` (those written since the bulk load read the
    log) to generation ``gen`` and switch it live: the last (short) batch and the switch go
    in one transaction, so nothing is lost between catching up and going live; the runner
    carries on from there. Returns the events applied."""
    recorder, log, mapper = views.recorder, app.recorder, app.mapper

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

    events = 0
    while True:
        notifications = log.select_notifications(position + 1, batch_size)
        items = [(n.id, mapper.to_domain_event(n)) for n in notifications]
        caught_up = len(notifications) < batch_size
        recorder.process(name, gen, items, switch=caught_up, catch_up=between, now=views.clock())
        events += len(items)
        if items:
            position = items[-1][0]
        if caught_up:
            return events


def rebuild_with_progress_bar(
    views: Views,
    app: Any,
    names: Sequence[str] | None = None,
    batch_size: int = 5000,
    max_cases_in_memory: int = MAX_CASES_IN_MEMORY,
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

        return rebuild(
            views,
            app,
            names,
            batch_size=batch_size,
            progress=report,
            max_cases_in_memory=max_cases_in_memory,
        )
