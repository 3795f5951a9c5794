"""`python -m botfleet_tools.devcluster up|down|status`, the same as `botfleet dev cluster ...`."""

from botfleet_tools.devcluster.cli import app

app(prog_name="botfleet dev cluster")
