"""Strategy unit tests. Helpers (tapebuilder.py) sit beside the tests: `tests.unit.strategies.tapebuilder`."""
