"""The `botfleet` command. Subcommands live beside what they run and are imported lazily,
so `botfleet --help` stays fast and the operator's dependencies are not loaded by a bot."""

from __future__ import annotations

import typer

from bot_runtime import __version__
from bot_runtime.commands import LazyGroup

app = typer.Typer(cls=LazyGroup, help="botfleet: Polymarket trading bots on Kubernetes.",
                  no_args_is_help=True, add_completion=False)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"botfleet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """botfleet: Polymarket trading bots on Kubernetes."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
