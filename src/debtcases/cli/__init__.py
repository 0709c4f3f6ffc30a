"""debtcases: the command line. The Typer app and its commands, in the order `--help` lists
them; each command lives with its group: serve and demo (serve.py), the schedulers
(schedulers.py), the data (data.py: export, import, project, rebuild, parked), the Diagonal
edge (diagonal.py: consume, publish, diagonal-sim), the operator's setup (admin.py: keys,
db)."""

from __future__ import annotations

import typer

from debtcases.cli import admin, data, diagonal, schedulers, serve

app = typer.Typer(
    help="Event-sourced dunning cases (Schulden / Inkasso-Beta).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(admin.keys_app, name="keys")
app.add_typer(admin.db_app, name="db")
app.add_typer(data.parked_app, name="parked")

app.command()(serve.serve)
app.command()(serve.demo)
app.command("admit-due")(schedulers.admit_due)
app.command("expire-holds")(schedulers.expire_holds)
app.command("export")(data.export_cmd)
app.command("import")(data.import_cmd)
app.command()(data.project)
app.command()(data.rebuild)
app.command()(diagonal.consume)
app.command()(diagonal.publish)
app.command("diagonal-sim")(diagonal.diagonal_sim)


def main() -> None:
    app()
