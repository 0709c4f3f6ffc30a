"""The eventsourcing Application: one intent-named method per command."""

from debtcases.commands.app import Admission, DunningCases, Outcome

__all__ = ["Admission", "DunningCases", "Outcome"]
