"""The `botfleet` command. Subcommands live beside what they run and are imported lazily,
so `botfleet --help` stays fast and the operator's dependencies are not loaded by a bot.

Every command runs under one guard (`main`): the secrets a command can read from its environment
are registered with the log redactor before it starts, the bot's commands log through the redacting
JSON logger, and a crash prints a traceback without local variables, scrubbed of those secrets
(rich's default traceback shows locals, which held the private key and the S3 secret key)."""

from __future__ import annotations

import os
import sys

import typer

from bot_runtime import __version__
from bot_runtime.commands import BOT_PACKAGE, LazyGroup, available, new_typer

# Secret values a command may get through its environment (the backup CronJob's S3 keys, a wallet
# key exported for a manual run), besides the Secret key names (contract.config.ALL_SECRET_KEYS);
# the files under /var/run/secrets are registered when read.
EXTRA_SECRET_ENV = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "BOTFLEET_JOURNAL_URL")
NOT_SECRET_ENV = frozenset({"FUNDER_ADDRESS", "SIGNATURE_TYPE"})
EXIT_CRASH = 1

app = new_typer(cls=LazyGroup, help="botfleet: Polymarket trading bots on Kubernetes.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"botfleet {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """botfleet: Polymarket trading bots on Kubernetes."""
    # imported here, not at the top: `botfleet --help` and `--version` stay fast
    from bot_runtime.telemetry.logs import configure_logging

    register_env_secrets(os.environ)
    ep = available().get(ctx.invoked_subcommand or "")
    if ep is not None and ep.module.partition(".")[0] == BOT_PACKAGE:
        # The bot's commands share one logging setup (JSON, redacted) on stderr: their stdout is the
        # command's result. `botfleet run` re-configures it with its level and bot context.
        configure_logging("info", stream=sys.stderr)


def register_env_secrets(env: os._Environ[str] | dict[str, str]) -> None:
    from bot_runtime.contract.config import ALL_SECRET_KEYS
    from bot_runtime.telemetry.logs import register_secret

    for name in (*ALL_SECRET_KEYS, *EXTRA_SECRET_ENV):
        if name not in NOT_SECRET_ENV:
            register_secret(env.get(name))


def main() -> None:
    try:
        app()
    except Exception as exc:  # a crash of any command: redacted traceback, no locals
        from bot_runtime.telemetry.logs import format_exception_redacted

        sys.stderr.write(format_exception_redacted(exc))
        sys.stderr.flush()
        sys.exit(EXIT_CRASH)


if __name__ == "__main__":
    main()
