"""Who may do what, from which status: the one transition table.

Vendor Play only on LOCKED; support's two-step repair FAILED -> RUNNING -> HANDED_OVER;
BLOCKED remembers and restores the previous status (by support, or by itself when the hold
ends: the system's EXPIRE_HOLD); PAID only by support; PAID and CANCELLED are left only by
support's correction (REOPEN, within a window the aggregate checks). Diagonal's
acknowledgements are not commands: they never fail, they are applied or recorded (see
DunningCase.apply_ack).
"""

from __future__ import annotations

from enum import StrEnum

from debtcases.domain.actors import Role
from debtcases.domain.statuses import Status


class Command(StrEnum):
    ADMIT = "admit"
    START = "start_dunning"
    HAND_OVER = "hand_over"
    CANCEL = "cancel"
    BLOCK = "block"
    UNBLOCK = "unblock"
    MARK_PAID = "mark_paid"
    CORRECT_ADDRESS = "correct_address"
    EXPIRE_HOLD = "expire_hold"
    REOPEN = "reopen"


_OPEN = frozenset({Status.LOCKED, Status.RUNNING, Status.FAILED, Status.HANDED_OVER})
_OPEN_OR_BLOCKED = _OPEN | {Status.BLOCKED}

# command -> role -> statuses the command may start from.
TRANSITIONS: dict[Command, dict[Role, frozenset[Status]]] = {
    Command.ADMIT: {Role.SYSTEM: frozenset(), Role.SUPPORT: frozenset()},
    Command.START: {
        Role.VENDOR: frozenset({Status.LOCKED}),
        Role.SUPPORT: frozenset({Status.LOCKED, Status.FAILED}),
    },
    Command.HAND_OVER: {Role.SUPPORT: frozenset({Status.RUNNING})},
    Command.CANCEL: {Role.VENDOR: _OPEN, Role.SUPPORT: _OPEN_OR_BLOCKED},
    Command.BLOCK: {Role.SUPPORT: _OPEN},
    Command.UNBLOCK: {Role.SUPPORT: frozenset({Status.BLOCKED})},
    Command.MARK_PAID: {Role.SUPPORT: _OPEN_OR_BLOCKED},
    Command.CORRECT_ADDRESS: {Role.SUPPORT: _OPEN_OR_BLOCKED},
    # The hold scheduler ends a hold whose end has come (the aggregate checks the moment).
    Command.EXPIRE_HOLD: {Role.SYSTEM: frozenset({Status.BLOCKED})},
    # A correction of a mistaken PAID / CANCELLED: back to the status before it.
    Command.REOPEN: {Role.SUPPORT: frozenset({Status.PAID, Status.CANCELLED})},
}

# The status a command leads to when it succeeds (None: stays, or restores).
TARGET: dict[Command, Status | None] = {
    Command.ADMIT: Status.LOCKED,
    Command.START: Status.RUNNING,
    Command.HAND_OVER: Status.HANDED_OVER,
    Command.CANCEL: Status.CANCELLED,
    Command.BLOCK: Status.BLOCKED,
    Command.UNBLOCK: None,
    Command.MARK_PAID: Status.PAID,
    Command.CORRECT_ADDRESS: None,
    Command.EXPIRE_HOLD: None,
    Command.REOPEN: None,
}

# A command asking for the status the case already has is answered without a change (a
# 200 with ``changed: false``, no event): support's two-step repair may race Diagonal's
# ``received``, and a retried request must not fail. Unblock asks for "not blocked" (an
# open case; nothing at all leaves PAID or CANCELLED, not even a no-op unblock).
ALREADY: dict[Command, frozenset[Status]] = {
    Command.START: frozenset({Status.RUNNING}),
    Command.HAND_OVER: frozenset({Status.HANDED_OVER}),
    Command.CANCEL: frozenset({Status.CANCELLED}),
    Command.BLOCK: frozenset({Status.BLOCKED}),
    Command.UNBLOCK: _OPEN,
    Command.MARK_PAID: frozenset({Status.PAID}),
    # Nothing to expire on a case that is not blocked; nothing to reopen on an open one.
    Command.EXPIRE_HOLD: _OPEN | {Status.PAID, Status.CANCELLED},
    Command.REOPEN: _OPEN_OR_BLOCKED,
}

# Commands whose business reason is mandatory when a person issues them.
REASON_REQUIRED = frozenset(
    {
        Command.CANCEL,
        Command.BLOCK,
        Command.UNBLOCK,
        Command.MARK_PAID,
        Command.CORRECT_ADDRESS,
        Command.REOPEN,
    }
)


def may_issue(role: Role, command: Command) -> bool:
    """Whether the role may issue the command at all (403 otherwise)."""
    return role in TRANSITIONS[command]


def already_there(command: Command, status: Status) -> bool:
    """Whether ``command`` asks for what a case in ``status`` already is (nothing to do)."""
    return status in ALREADY.get(command, frozenset())


def allowed_from(role: Role, command: Command) -> frozenset[Status]:
    return TRANSITIONS[command].get(role, frozenset())


def visible_status(status: Status, status_before_block: Status | None, role: Role) -> Status:
    """The status a role sees: BLOCKED is invisible to vendors, who see the status before it."""
    if role is Role.VENDOR and status is Status.BLOCKED and status_before_block is not None:
        return status_before_block
    return status
