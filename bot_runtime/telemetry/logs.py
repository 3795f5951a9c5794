"""Structured JSON logs on stdout, one object per line, with secrets redacted.

Events are named in capitals so they can be grepped (`kubectl logs ... | grep "ARB OPPORTUNITY"`),
as the operations guide's runbooks do. Every event, including stdlib `logging` records of the
libraries, passes through `redact` before it is rendered:

- any value ever read as a secret (registered by the credentials reader) is replaced, wherever it
  appears (also inside exception tracebacks), with its base64 form; a secret that is a URL also has
  its key-bearing parts registered, and so do the configured endpoints (`register_url_parts`);
- fields whose name says secret (private_key, secret, passphrase, api_key, signature, password,
  authorization) are replaced whole;
- any `0x` + 64-hex (or bare 64-hex) string is replaced, except in fields that carry public
  identifiers of the same shape (condition ids, order hashes, transaction hashes) and except the
  condition ids of the bot's own markets (`register_public`), because a private key has exactly
  that shape.
"""

from __future__ import annotations

import base64
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO
from urllib.parse import parse_qsl, unquote, urlsplit

import structlog

# Searchable event names (the `event` field).
ARB_OPPORTUNITY = "ARB OPPORTUNITY"
EXECUTED = "EXECUTED"
ORDER_REJECTED = "ORDER REJECTED"
KILL_SWITCH = "KILL SWITCH"
RECONNECT = "RECONNECT"
STARTED = "BOT STARTED"
STOPPING = "BOT STOPPING"
STOPPED = "BOT STOPPED"
CREDENTIALS_RELOADED = "CREDENTIALS RELOADED"
ROTATION_DUE = "ROTATION DUE"

REDACTED = "[REDACTED]"
MIN_SECRET_LEN = 6  # shorter values would redact ordinary words and numbers

_SECRET_FIELD = re.compile(r"private_?key|secret|passphrase|api_?key|signature|password|authorization|"
                           r"mnemonic|seed_?phrase", re.IGNORECASE)
_NOT_SECRET_FIELD = frozenset({"signature_type", "signaturetype", "signatureType"})
_HEX64 = re.compile(r"(?<![0-9a-fA-Fx])(?:0x)?[0-9a-fA-F]{64}(?![0-9a-fA-F])")
# Fields that legitimately hold 0x+64-hex public identifiers.
PUBLIC_HEX_FIELDS = frozenset({
    "market", "markets", "condition_id", "conditionId", "market_id", "neg_risk_market_id", "order_id",
    "orderID", "order_ids", "order_hash", "tx", "tx_hash", "transaction_hash", "transactionHash",
    "hash", "book_hash", "event_id", "group", "group_id", "trade_id",
})

_secrets: set[str] = set()
_secrets_lock = threading.Lock()
_secret_re: re.Pattern[str] | None = None
_public: set[str] = set()  # known public 0x+64-hex ids (condition ids of the bot's markets)


def register_public(values: Iterable[str]) -> None:
    """Ids known to be public (market condition ids): kept readable even in free text."""
    _public.update(v.lower() for v in values if v and v not in _secrets)


def _hex_sub(m: re.Match[str]) -> str:
    return m.group(0) if m.group(0).lower() in _public else REDACTED


def register_secret(value: str | None) -> None:
    """Make `value` unprintable in logs from now on (kept after rotation: old values stay secret).

    Its base64 form too (a Secret's `data`, a Basic auth header); a URL also by its parts."""
    if not value or len(value) < MIN_SECRET_LEN:
        return
    value = value.strip()
    _add_secrets({value, base64.b64encode(value.encode()).decode()})
    if "://" in value:
        register_url_parts(value)


def _add_secrets(values: set[str]) -> None:
    global _secret_re
    with _secrets_lock:
        new = {v for v in values if len(v) >= MIN_SECRET_LEN} - _secrets
        if not new:
            return
        _secrets.update(new)
        # longest first, so a secret containing another is replaced whole
        _secret_re = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


# A path segment or query value that looks like a provider key (Alchemy, Infura, QuickNode: 20-64
# characters of letters, digits, - and _, at least one digit); words like `data-api` do not.
_KEY_SHAPED = re.compile(r"(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{16,}")


def register_url_parts(url: str | None) -> None:
    """Register the parts of `url` that can carry a key, because error messages print them apart
    from the whole URL: urllib3 says `Max retries exceeded with url: /v2/<key>`, aiohttp prints the
    path, a proxy the query. Registered: the userinfo password, every query value, and every
    key-shaped path segment with the path (and path + query) that holds it. Nothing is registered
    for a URL without such a part, so ordinary endpoints stay readable."""
    if not url or "://" not in url:
        return
    try:
        parts = urlsplit(url.strip())
        password = parts.password
    except ValueError:  # a malformed port: the whole value is all there is
        return
    found: set[str] = set()
    if password:
        found |= {password, unquote(password)}
    found |= {v for _, v in parse_qsl(parts.query, keep_blank_values=False)}
    keys = [seg for seg in parts.path.split("/") if _KEY_SHAPED.fullmatch(unquote(seg))]
    if keys:
        found |= {*keys, *(unquote(k) for k in keys), parts.path, parts.path.rstrip("/")}
    if found and parts.query:
        found |= {parts.query, f"{parts.path}?{parts.query}"}
    _add_secrets(found | {base64.b64encode(v.encode()).decode() for v in found if len(v) >= MIN_SECRET_LEN})


def scrub_text(text: str) -> str:
    """`text` with every registered secret (and 0x+64-hex string) replaced: for what is printed
    outside the logs, such as the traceback of a crashed command."""
    return _scrub_text(text, public=False)


def format_exception_redacted(exc: BaseException) -> str:
    """The traceback of `exc` (no local variables, unlike rich's), scrubbed."""
    return scrub_text("".join(traceback.format_exception(exc)))


def _scrub_text(text: str, public: bool) -> str:
    pattern = _secret_re
    if pattern is not None:
        text = pattern.sub(REDACTED, text)
    if not public:
        text = _HEX64.sub(_hex_sub, text)
    return text


def _scrub(value: Any, public: bool) -> Any:
    if isinstance(value, str):
        return _scrub_text(value, public)
    if isinstance(value, Mapping):
        return {k: _scrub_field(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_scrub(v, public) for v in value]
    if isinstance(value, (int, float, bool)) or value is None:
        return value
    return _scrub_text(str(value), public)  # objects render via str(): scrub that


def _scrub_field(key: str, value: Any) -> Any:
    if key not in _NOT_SECRET_FIELD and _SECRET_FIELD.search(key):
        return REDACTED
    return _scrub(value, key in PUBLIC_HEX_FIELDS)


def redact(_logger: Any, _name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: scrub every field of the event (see the module docstring)."""
    for key in list(event_dict):
        event_dict[key] = _scrub_field(key, event_dict[key])
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]


def _final_processors() -> list[Any]:
    return [
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,  # before redact: tracebacks are scrubbed too
        redact,
        structlog.processors.JSONRenderer(sort_keys=False),
    ]


def configure_logging(level: str = "info", stream: TextIO | None = None, **context: Any) -> None:
    """JSON logs to `stream` (stdout) for structlog and stdlib loggers alike.

    `context` (e.g. bot=..., strategy=...) is bound to every event of this process.
    """
    lvl = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    out = stream or sys.stdout
    structlog.configure(
        processors=[*_shared_processors(), structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*_shared_processors(), structlog.stdlib.ExtraAdder()],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *_final_processors()],
    ))
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_botfleet", False):
            root.removeHandler(h)
    handler._botfleet = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(lvl)
    # chatty libraries: their DEBUG lines can carry request headers
    for noisy in ("aiohttp.access", "websockets", "urllib3", "httpx", "web3"):
        logging.getLogger(noisy).setLevel(max(lvl, logging.WARNING))
    structlog.contextvars.clear_contextvars()
    if context:
        structlog.contextvars.bind_contextvars(**context)
