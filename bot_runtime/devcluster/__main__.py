"""`python -m bot_runtime.devcluster up|down|status`, the same as `botfleet dev cluster ...`."""

from bot_runtime.devcluster.cli import app

app(prog_name="botfleet dev cluster")
