"""`python -m botfleet_operator [operator|crd] ...`: the same commands as `botfleet operator` / `botfleet crd`."""

from __future__ import annotations

import typer

from botfleet_operator.cli import crd_command, operator_command

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False)  # no secrets in crashes
app.command("operator")(operator_command)
app.command("crd")(crd_command)

if __name__ == "__main__":
    app()
