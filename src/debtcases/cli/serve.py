"""`serve` (the HTTP API and UI with the workers beside it) and `demo` (the demo data and
its login tokens)."""

from __future__ import annotations

from typing import Annotated

import typer

from debtcases.config import Settings


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Seed demo data and print tokens on first start")
    ] = False,
    workers: Annotated[
        bool,
        typer.Option(help="Run projections (and Kafka outbox/consumer when configured) in-process"),
    ] = True,
    diagonal_sim: Annotated[
        bool,
        typer.Option(
            "--diagonal-sim",
            help="Embedded mode: answer handover messages with the built-in Diagonal simulator",
        ),
    ] = False,
) -> None:
    """Run the HTTP API (and UI), with the background workers beside it."""
    import uvicorn

    from debtcases.api.app import create_app
    from debtcases.bootstrap import build_container

    settings = Settings()
    settings.run_workers = workers
    settings.diagonal_simulator = diagonal_sim or settings.diagonal_simulator
    container = build_container(settings)
    if demo or settings.demo:
        _seed_and_print_tokens(container)
    container.start_workers()
    app = create_app(container)
    typer.echo(f"Anmelden (Web-Oberfläche): http://{host}:{port}/anmelden")
    try:
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        container.close()


def _seed_and_print_tokens(container: object) -> None:
    from debtcases.bootstrap import Container
    from debtcases.commands.demo import seed_demo, seed_demo_orders
    from debtcases.domain.actors import Role

    assert isinstance(container, Container)
    created = seed_demo(container.cases)
    seed_demo_orders(container.orders, container.clock())
    if not created:
        typer.echo(
            "Demo data already present (tokens were printed on first start; "
            "create more with `debtcases keys create`)."
        )
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


def demo() -> None:
    """Seed the demo data into the configured database and print tokens."""
    from debtcases.bootstrap import build_container

    container = build_container(Settings())
    try:
        _seed_and_print_tokens(container)
    finally:
        container.close()
