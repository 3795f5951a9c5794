"""botfleet bot runtime: one process, one strategy, one wallet."""

__version__ = "0.1.0"
