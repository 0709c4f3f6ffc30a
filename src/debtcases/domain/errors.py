"""One error type per business refusal; the API maps each to one HTTP problem."""

from __future__ import annotations


class DomainError(Exception):
    code = "domain_error"


class CaseNotFound(DomainError):
    """Unknown order, or an order a vendor may not see (no existence leak)."""

    code = "not_found"

    def __init__(self, order_id: str) -> None:
        super().__init__(f"No dunning case for order {order_id!r}.")
        self.order_id = order_id


class NotPermitted(DomainError):
    code = "not_permitted"

    def __init__(self, role: str, command: str) -> None:
        super().__init__(f"Role {role!r} may not {command.replace('_', ' ')}.")
        self.role = role
        self.command = command


class InvalidTransition(DomainError):
    code = "invalid_transition"

    def __init__(self, command: str, from_status: str, to_status: str, detail: str = "") -> None:
        message = detail or (
            f"Cannot {command.replace('_', ' ')} a case in status {from_status} "
            f"(would go to {to_status})."
        )
        super().__init__(message)
        self.command = command
        self.from_status = from_status
        self.to_status = to_status


class OrderConflict(DomainError):
    """The order already has a case, admitted with different data."""

    code = "order_conflict"

    def __init__(self, order_id: str, fields: list[str]) -> None:
        super().__init__(
            f"Order {order_id!r} already has a dunning case with different data "
            f"({', '.join(fields)})."
        )
        self.order_id = order_id
        self.fields = fields


class ConcurrentModification(DomainError):
    code = "concurrent_modification"

    def __init__(self, order_id: str, attempts: int) -> None:
        super().__init__(
            f"Order {order_id!r} was changed concurrently; gave up after {attempts} attempts. "
            "Reload and try again."
        )
        self.order_id = order_id
        self.attempts = attempts


class InvalidHold(DomainError):
    """The terms of a hold do not fit together (or end before they start)."""

    code = "invalid_hold"

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid hold: " + "; ".join(problems) + ".")
        self.problems = problems


class ReopenWindowClosed(DomainError):
    """A PAID or CANCELLED case may be reopened only within the correction window."""

    code = "reopen_window_closed"

    def __init__(self, order_id: str, closed_at: str, window_days: float) -> None:
        super().__init__(
            f"Order {order_id!r} was closed at {closed_at}; corrections are possible for "
            f"{window_days:g} days after that, and that window has passed."
        )
        self.order_id = order_id
        self.closed_at = closed_at
        self.window_days = window_days


class ReasonRequired(DomainError):
    """A person's command that needs a business reason came without one."""

    code = "reason_required"

    def __init__(self, command: str) -> None:
        super().__init__(f"{command.replace('_', ' ').capitalize()} needs a reason.")
        self.command = command
