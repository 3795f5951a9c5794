"""Strategy unit tests. Helpers (tapebuilder.py) sit beside the tests and are imported by their
module name: pytest puts this folder on sys.path (no __init__.py here, rootdir-relative imports)."""
