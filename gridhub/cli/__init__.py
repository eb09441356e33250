"""The ``gridhub`` command. Each command group lives in its own module with a Typer ``app``.

Group modules import their heavy dependencies inside the commands, so ``gridhub --help``
stays fast; the same functions back the Airflow DAGs (one code path).
"""

from __future__ import annotations

import importlib

import typer

from gridhub import __version__

app = typer.Typer(
    name="gridhub",
    help="gridhub — data-exchange hub for community (grid) governance.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold personal data
)

# (module under gridhub.cli, name). A module with an ``app`` joins as a command group, one
# with a ``command`` function as a single command. Listing it here is all it takes.
COMMANDS: tuple[tuple[str, str], ...] = (
    ("db", "db"),
    ("sync", "sync"),
    ("consume", "consume"),
    ("identity", "identity"),
    ("simulate", "simulate"),
    ("resolve", "resolve"),
    ("review", "review"),
    ("tasks", "tasks"),
    ("audit", "audit"),
    ("serve", "serve"),
    ("device_bridge", "device-bridge"),
    ("demo", "demo"),
    ("up", "up"),
)


@app.command()
def version() -> None:
    """Print the gridhub version."""
    typer.echo(f"gridhub {__version__}")


for _module, _name in COMMANDS:
    _mod = importlib.import_module(f"gridhub.cli.{_module}")
    if hasattr(_mod, "app"):
        app.add_typer(_mod.app, name=_name)
    else:
        app.command(_name)(_mod.command)


def main() -> None:
    app()


__all__ = ["app", "main"]
