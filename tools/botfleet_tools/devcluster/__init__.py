"""`botfleet dev cluster up|down|status`: a local Kubernetes control plane without Docker.

``app`` is the typer sub-app; importing it needs neither the Go binaries nor a cluster.
"""

from botfleet_tools.devcluster.cli import app

__all__ = ["app"]
