"""`python -m debtcases.cli` (the tests run the command line so)."""

from debtcases.cli import main

main()
