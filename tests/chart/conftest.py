"""Makes `tests.support` importable here.

The repository's `tests/` has no __init__.py, and a dependency (py_order_utils) installs a
top-level `tests` package into site-packages, which would win the import. Until tests/ is a
package, bind the name `tests` to this repository's folder before the test modules import it.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

_TESTS = Path(__file__).resolve().parents[1]
_pkg = sys.modules.get("tests")
if _pkg is None or str(_TESTS) not in list(getattr(_pkg, "__path__", [])):
    _pkg = types.ModuleType("tests")
    _pkg.__path__ = [str(_TESTS)]
    sys.modules["tests"] = _pkg
if str(_TESTS.parent) not in sys.path:
    sys.path.insert(0, str(_TESTS.parent))
