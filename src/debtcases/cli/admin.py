"""The operator's setup: API tokens (`keys create | list | revoke`) and the database roles
(`db setup`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from debtcases.config import Settings

if TYPE_CHECKING:
    from debtcases.adapters.keys import KeyStore

keys_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
db_app = typer.Typer(help="Database setup for operators (PostgreSQL).", no_args_is_help=True)


@db_app.command("setup")
def db_setup() -> None:
    """As the owner role (DEBTCASES_DATABASE_OWNER_URL): create the events tables (cases and
    order facts), make them append-only and let the service role (DEBTCASES_DATABASE_URL)
    only read and append events. Idempotent; run it before the first start and after
    upgrades."""
    from debtcases.bootstrap import setup_database

    settings = Settings()
    try:
        tables = setup_database(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for table in tables:
        typer.echo(f"{table}: set up; the service role may only read and append events.")


def _key_store() -> KeyStore:
    """The key store of the configured database, for the `keys` commands."""
    from debtcases.adapters.keys import key_store_for
    from debtcases.bootstrap import database, utc_now

    return key_store_for(database(Settings()), clock=utc_now)


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="support | vendor | system")],
    user_id: Annotated[int | None, typer.Option("--user-id", help="Vendor User-ID")] = None,
    name: Annotated[str, typer.Option(help="Who holds the key")] = "",
) -> None:
    """Create an API token; the token is the last line of output (shown only once)."""
    from debtcases.domain.actors import Role

    store = _key_store()
    try:
        parsed = Role(role.lower())
        token = store.create(parsed, name=name, user_id=user_id)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    typer.echo(
        f"Created {parsed.value} key{f' for User-ID {user_id}' if user_id else ''}"
        f"{f' ({name})' if name else ''}. Store the token now; it is not kept:"
    )
    typer.echo(token)


@keys_app.command("list")
def keys_list() -> None:
    """Every key ever created: id (hash prefix), role, holder, created, revoked."""
    from rich.console import Console
    from rich.table import Table

    store = _key_store()
    try:
        keys = store.list()
    finally:
        store.close()
    table = Table("key id", "role", "name", "user id", "created", "revoked")
    for k in keys:
        table.add_row(
            k["key_id"],
            k["role"],
            k["name"],
            str(k["user_id"] or ""),
            k["created_at"],
            k["revoked_at"] or "",
        )
    Console().print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="Key id (hash prefix) from `keys list`")],
) -> None:
    """Revoke a key. The row stays (stamped revoked); running services refuse the token
    within 30 seconds (their lookup cache)."""

    store = _key_store()
    try:
        revoked = store.revoke(key_id.lower())
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        store.close()
    if revoked == 0:
        typer.echo(f"error: no active key with id {key_id!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Revoked {revoked} key(s).")
