"""The seven statuses of a dunning case and their labels as the product shows them."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    LOCKED = "LOCKED"
    RUNNING = "RUNNING"
    FAILED = "FAILED"
    HANDED_OVER = "HANDED_OVER"
    CANCELLED = "CANCELLED"
    BLOCKED = "BLOCKED"
    PAID = "PAID"

    @property
    def label(self) -> str:
        return LABELS[self]

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


# Exact UI labels from the support article (de).
LABELS: dict[Status, str] = {
    Status.LOCKED: "Gesperrt",
    Status.RUNNING: "Laufend",
    Status.FAILED: "Failed",
    Status.HANDED_OVER: "Ans Inkasso übergeben",
    Status.CANCELLED: "Gekündigt",
    Status.BLOCKED: "Blockiert",
    Status.PAID: "Bezahlt",
}

# No transition leads out of these.
TERMINAL = frozenset({Status.CANCELLED, Status.PAID})


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


# A status by its code or by its UI label, in any case: "Gesperrt", "ans inkasso übergeben".
_BY_NAME: dict[str, Status] = {
    **{_key(s.value): s for s in Status},
    **{_key(label): s for s, label in LABELS.items()},
}


def parse_statuses(text: str) -> list[Status]:
    """Parse ``"LOCKED,RUNNING"`` (or the labels, ``"Gesperrt,Laufend"``, any case) into
    statuses; raises ValueError naming the bad one."""
    result: list[Status] = []
    for part in text.split(","):
        name = _key(part)
        if not name:
            continue
        try:
            result.append(_BY_NAME[name])
        except KeyError:
            allowed = ", ".join(f"{s.value} ({s.label})" for s in Status)
            raise ValueError(f"unknown status {part.strip()!r}; allowed: {allowed}") from None
    if not result:
        raise ValueError("no status given")
    return result
