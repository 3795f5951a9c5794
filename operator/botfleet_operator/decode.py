"""API answers and watch events decoded without their `metadata.managedFields`.

The operator never reads managedFields, and they are most of an object: a Deployment's carry a few
hundred `{}` leaves, one dict each. Decoding them for every watch event and every apply's answer, to
drop them at once, filled CPython's 64-byte pools with short-lived dicts among the cache's long-lived
ones: at 1,000 bots ~20 MB of those pools stayed allocated and empty (sys._debugmallocstats).

So the bytes of each `"managedFields":[...]` are cut before the JSON is decoded. The cut relies on
what the API server writes there: an array of objects whose values are strings and objects (fieldsV1)
and never arrays, so its first `]` outside a string closes it. Anything else (no match, or a cut that
does not decode) is decoded whole, as before.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

_KEY = b'"managedFields":['
# From just after the `[`: runs of anything but a quote or `]`, and whole strings (escapes included),
# up to the first `]` outside a string. Possessive: nothing to backtrack into, linear in the length.
_TO_CLOSE = re.compile(rb'(?:[^"\]]++|"(?:[^"\\]++|\\.)*+")*+\]', re.DOTALL)


def without_managed_fields(raw: bytes) -> bytes:
    """`raw` with every `"managedFields":[...]` member removed (and one comma beside it)."""
    at = raw.find(_KEY)
    if at < 0:
        return raw
    parts: list[bytes] = []
    start = 0
    while at >= 0:
        end = _TO_CLOSE.match(raw, at + len(_KEY))
        if end is None:
            return raw
        cut_from, cut_to = at, end.end()
        if raw[cut_from - 1:cut_from] == b",":
            cut_from -= 1  # `...,"managedFields":[...]}`
        elif raw[cut_to:cut_to + 1] == b",":
            cut_to += 1  # `{"managedFields":[...],...`
        parts.append(raw[start:cut_from])
        start = cut_to
        at = raw.find(_KEY, start)
    parts.append(raw[start:])
    return b"".join(parts)


def loads(raw: bytes) -> Any:
    """The decoded JSON, without managedFields where they could be cut (see the module docstring)."""
    slim = without_managed_fields(raw)
    if slim is not raw:
        try:
            return orjson.loads(slim)
        except orjson.JSONDecodeError:
            pass
    return orjson.loads(raw)
