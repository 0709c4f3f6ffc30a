"""Importing a legacy dunning list (CSV): every row of a file admitted, or none.

Rules: the file is read and checked row by row (:mod:`debtcases.csvformat.parse`); an order
that already has a case with the same data is "unchanged", with different data it is an
``order_conflict``; any error rejects the whole file; the rows are admitted together in one
transaction, so importing the same file twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from debtcases.commands.app import Outcome
from debtcases.csvformat.parse import (
    DEFAULT_IMPORT_REASON,
    MAX_IMPORT_ROWS,
    RowError,
    parse_import,
)
from debtcases.domain.actors import Actor
from debtcases.domain.admission import Admission
from debtcases.domain.errors import OrderConflict


@dataclass(frozen=True)
class ImportReport:
    dry_run: bool
    applied: bool
    rows: int
    created: int
    unchanged: int
    errors: tuple[RowError, ...] = ()
    # Notification position of the last admitted case (read-your-writes), if any.
    position: int | None = None
    # (order id, User-ID) of every case the file admitted or found unchanged (a dry run:
    # would admit or leave unchanged), in file order; none if the file was rejected.
    cases: tuple[tuple[str, int], ...] = ()

    @property
    def conflicts_only(self) -> bool:
        """Rejected only because orders already have cases with other data (409)."""
        return bool(self.errors) and all(e.code == "order_conflict" for e in self.errors)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "applied": self.applied,
            "rows": self.rows,
            "created": self.created,
            "unchanged": self.unchanged,
            "errors": [e.as_dict() for e in self.errors],
            "cases": [{"order_id": o, "user_id": u} for o, u in self.cases],
        }


class CaseAdmitter(Protocol):
    """What the import needs of the DunningCases application."""

    def find_cases(self, order_ids: Sequence[str], actor: Actor) -> Mapping[str, Any]: ...

    def admit_many(self, admissions: Sequence[Admission], actor: Actor) -> list[Outcome]: ...


def import_cases(
    cases: CaseAdmitter,
    data: bytes,
    actor: Actor,
    *,
    dry_run: bool = False,
    max_rows: int = MAX_IMPORT_ROWS,
    default_reason: str = DEFAULT_IMPORT_REASON,
) -> ImportReport:
    """Validate a file, compare it with the existing cases and (unless ``dry_run``) admit
    every new order in one transaction. Any error: nothing is applied."""
    parsed = parse_import(data, max_rows=max_rows, default_reason=default_reason)
    errors = list(parsed.errors)
    created = unchanged = 0
    if not any(e.code == "invalid_file" for e in errors):  # readable: compare every row
        # Every row's case read together (one query per 10,000 rows, not one per row).
        existing_cases = cases.find_cases([r.admission.order_id for r in parsed.rows], actor)
        for row in parsed.rows:
            a = row.admission
            existing = existing_cases.get(a.order_id)
            if existing is None:
                created += 1
                continue
            differing = existing.differing_admission_fields(
                user_id=a.user_id, amount=a.amount, currency=a.currency, debtor=a.debtor
            )
            if differing:
                errors.append(
                    RowError(
                        row.line,
                        "order_id",
                        f"order {a.order_id!r} already has a case with "
                        f"different data ({', '.join(differing)})",
                        "order_conflict",
                    )
                )
            else:
                unchanged += 1
    errors.sort(key=lambda e: e.line or 0)
    if errors or dry_run:
        return ImportReport(
            dry_run,
            False,
            parsed.row_count,
            created if not errors else 0,
            unchanged if not errors else 0,
            tuple(errors),
            cases=()
            if errors
            else tuple((r.admission.order_id, r.admission.user_id) for r in parsed.rows),
        )
    try:
        outcomes = cases.admit_many([r.admission for r in parsed.rows], actor)
    except OrderConflict as exc:  # admitted concurrently with other data since the check
        line = next((r.line for r in parsed.rows if r.admission.order_id == exc.order_id), None)
        return ImportReport(
            dry_run,
            False,
            parsed.row_count,
            0,
            0,
            (RowError(line, "order_id", str(exc), "order_conflict"),),
        )
    positions = [o.position for o in outcomes if o.position is not None]
    return ImportReport(
        dry_run,
        True,
        parsed.row_count,
        sum(1 for o in outcomes if o.created),
        sum(1 for o in outcomes if not o.created),
        (),
        max(positions) if positions else None,
        tuple((o.order_id, o.user_id) for o in outcomes),
    )
