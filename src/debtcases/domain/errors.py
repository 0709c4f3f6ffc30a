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
