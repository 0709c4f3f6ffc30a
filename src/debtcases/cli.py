"""debtcases: serve, keys, demo (and the read-model / Kafka commands when present)."""

from __future__ import annotations

from typing import Annotated

import typer

from debtcases.config import Settings

app = typer.Typer(help="Event-sourced dunning cases (Schulden / Inkasso-Beta).",
                  no_args_is_help=True, add_completion=False)
keys_app = typer.Typer(help="API tokens (stored hashed; shown once).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    demo: Annotated[bool, typer.Option(help="Seed demo data and print tokens on first start")]
    = False,
    workers: Annotated[bool, typer.Option(
        help="Run projections (and Kafka outbox/consumer when configured) in-process")] = True,
) -> None:
    """Run the HTTP API (and UI), with the background workers beside it."""
    import uvicorn

    from debtcases.api.app import create_app
    from debtcases.bootstrap import build_container

    settings = Settings()
    settings.run_workers = workers
    container = build_container(settings)
    if demo or settings.demo:
        _seed_and_print_tokens(container)
    container.start_workers()
    try:
        uvicorn.run(create_app(container), host=host, port=port, log_level="info")
    finally:
        container.close()


def _seed_and_print_tokens(container: object) -> None:
    from debtcases.bootstrap import Container
    from debtcases.demo import seed_demo
    from debtcases.domain.actors import Role

    assert isinstance(container, Container)
    created = seed_demo(container.cases)
    if not created:
        typer.echo("Demo data already present (tokens were printed on first start; "
                   "create more with `debtcases keys create`).")
        return
    support = container.keys.create(Role.SUPPORT, name="demo-support")
    vendor = container.keys.create(Role.VENDOR, user_id=79424)
    vendor2 = container.keys.create(Role.VENDOR, user_id=51234)
    system = container.keys.create(Role.SYSTEM, name="demo-intake")
    typer.echo(f"Demo data: {len(created)} cases admitted.")
    typer.echo("Login tokens (shown only now):")
    typer.echo(f"  support (Schulden)            {support}")
    typer.echo(f"  vendor 79424 (Inkasso-Beta)   {vendor}")
    typer.echo(f"  vendor 51234 (Inkasso-Beta)   {vendor2}")
    typer.echo(f"  system (order intake)         {system}")


@keys_app.command("create")
def keys_create(
    role: Annotated[str, typer.Option(help="support | vendor | system")],
    user_id: Annotated[int | None, typer.Option("--user-id", help="Vendor User-ID")] = None,
    name: Annotated[str, typer.Option(help="Who holds the key")] = "",
) -> None:
    """Create an API token; the token is the last line of output (shown only once)."""
    from debtcases.auth import KeyStore
    from debtcases.bootstrap import database
    from debtcases.domain.actors import Role

    try:
        parsed = Role(role.lower())
        token = KeyStore(database(Settings())).create(parsed, name=name, user_id=user_id)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Created {parsed.value} key{f' for User-ID {user_id}' if user_id else ''}"
               f"{f' ({name})' if name else ''}. Store the token now; it is not kept:")
    typer.echo(token)


@app.command()
def demo() -> None:
    """Seed the demo data into the configured database and print tokens."""
    from debtcases.bootstrap import build_container

    container = build_container(Settings())
    try:
        _seed_and_print_tokens(container)
    finally:
        container.close()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
