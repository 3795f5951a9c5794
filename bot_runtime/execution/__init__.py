"""The money-safety core: order signing, the order journal, the risk engine, the exchanges and the
executor that ties them together (see executor.py for the order of operations)."""
