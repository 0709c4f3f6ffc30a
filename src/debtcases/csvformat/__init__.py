"""CSV export (``export``) and parsing for the import (``parse``); the import itself is the
command in :mod:`debtcases.commands.imports`."""
