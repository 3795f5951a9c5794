"""Gamma (market metadata): `MarketInfo` parsed from Gamma `/markets` (or a market nested in
`/events`) JSON, and the client for market discovery (`/markets`, `/events`), one market by
condition id, resolved markets' winners, and fee rates (CLOB `/fee-rate`).

Gamma encodes lists as JSON strings (`clobTokenIds`, `outcomes`); the first token id is Yes.
`MarketInfo` is shared by strategies, the simulator and the market-data layer.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bot_runtime.venue.polymarket.constants import E6, GAMMA_URL
from bot_runtime.venue.polymarket.fees import category_fee_rate, rate_ppm, rate_ppm_from_bps, taker_fee_e6
from bot_runtime.venue.polymarket.frames import format_e6, parse_e6


class MarketParseError(ValueError):
    """Gamma JSON that cannot be turned into a MarketInfo; the message names the field."""


@dataclass(frozen=True, slots=True)
class MarketInfo:
    condition_id: str
    question: str
    slug: str
    yes_token_id: str
    no_token_id: str
    outcomes: tuple[str, ...] = ("Yes", "No")
    neg_risk: bool = False
    neg_risk_market_id: str = ""  # groups the outcome markets of one neg-risk event
    tick_size_e6: int = 10_000
    min_size_e6: int = 5_000_000
    fees_enabled: bool = False
    fee_rate: float | None = 0.0  # None: fees enabled but rate unknown (ask /fee-rate)
    # fee = shares * rate * (p * (1 - p)) ** exponent (the exchange's `fd.e`; 1 on every market seen)
    fee_exponent: int = 1
    end_date: str = ""
    category: str = ""
    tags: tuple[str, ...] = ()
    active: bool = True
    closed: bool = False
    accepting_orders: bool = True
    enable_order_book: bool = True
    event_id: str = ""
    event_slug: str = ""
    group_item_title: str = ""  # the outcome's name inside a neg-risk event
    gamma_id: str = ""
    # Completeness of a neg-risk event (Gamma `/events`): the condition ids of every unresolved
    # outcome of the event (empty: not known), and whether it is "augmented" neg risk, whose
    # placeholder and "Other" outcomes change meaning, so its named outcomes never form a set.
    event_outcome_ids: tuple[str, ...] = ()
    neg_risk_augmented: bool = False

    @property
    def token_ids(self) -> tuple[str, str]:
        return self.yes_token_id, self.no_token_id

    @property
    def tradable(self) -> bool:
        return self.active and not self.closed and self.enable_order_book and self.accepting_orders

    def taker_fee_e6(self, shares_e6: int, price_e6: int) -> int:
        """Taker fee in collateral micro units, rounded up (never underestimate a cost)."""
        if not self.fees_enabled or not self.fee_rate:
            return 0
        return taker_fee_e6(shares_e6, price_e6, rate_ppm(self.fee_rate))

    def to_gamma(self) -> dict[str, Any]:
        """Gamma `/markets` JSON for this market (the simulator serves this shape)."""
        return {
            "id": self.gamma_id or self.condition_id,
            "question": self.question,
            "conditionId": self.condition_id,
            "slug": self.slug,
            "endDate": self.end_date,
            "outcomes": json.dumps(list(self.outcomes)),
            "clobTokenIds": json.dumps([self.yes_token_id, self.no_token_id]),
            "negRisk": self.neg_risk,
            "negRiskMarketID": self.neg_risk_market_id or None,
            "orderPriceMinTickSize": float(format_e6(self.tick_size_e6)),
            "orderMinSize": float(format_e6(self.min_size_e6)),
            "feesEnabled": self.fees_enabled,
            "active": self.active,
            "closed": self.closed,
            "acceptingOrders": self.accepting_orders,
            "enableOrderBook": self.enable_order_book,
            "category": self.category,
            "tags": [{"label": t, "slug": t} for t in self.tags],
            "groupItemTitle": self.group_item_title,
            "eventId": self.event_id or None,
            "eventSlug": self.event_slug or None,
            "negRiskAugmented": self.neg_risk_augmented,
            **({"eventOutcomeIds": list(self.event_outcome_ids)} if self.event_outcome_ids else {}),
        }


def _json_list(v: Any, name: str) -> list[Any]:
    if v is None or v == "":
        return []
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError as e:
            raise MarketParseError(f"field {name!r} is not a JSON list: {e}") from None
    if not isinstance(v, list):
        raise MarketParseError(f"field {name!r} must be a list (or a JSON-encoded list)")
    return v


def _num_e6(v: Any, name: str, default: int) -> int:
    if v is None or v == "":
        return default
    try:
        if isinstance(v, str):
            return parse_e6(v)
        if isinstance(v, bool):
            raise ValueError(v)
        if isinstance(v, int) and v >= 0:
            return v * E6
        if isinstance(v, float) and v >= 0:
            return round(v * E6)  # NaN: ValueError; a huge value overflows to inf
    except (ValueError, OverflowError):
        pass
    raise MarketParseError(f"field {name!r} must be a non-negative decimal, got {v!r}")


def _as_bool(v: Any, default: bool) -> bool:
    if v is None:
        return default
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return bool(v)


def winner_from_gamma(raw: Mapping[str, Any]) -> str | None:
    """The winning token id of a closed Gamma market (outcomePrices "1"/"0"), else None."""
    if not raw.get("closed"):
        return None
    try:
        prices = raw.get("outcomePrices")
        tokens = raw.get("clobTokenIds")
        prices = json.loads(prices) if isinstance(prices, str) else prices
        tokens = json.loads(tokens) if isinstance(tokens, str) else tokens
        if not isinstance(prices, list) or not isinstance(tokens, list) or len(prices) != len(tokens):
            return None
        values = [float(p) for p in prices]
    except (TypeError, ValueError):
        return None
    winners = [str(t) for t, v in zip(tokens, values, strict=True) if v >= 0.99]
    return winners[0] if len(winners) == 1 else None


def tag_names(raw_tags: Any) -> list[str]:
    out: list[str] = []
    if isinstance(raw_tags, list):
        for t in raw_tags:
            if isinstance(t, dict):
                name = t.get("slug") or t.get("label")
                if isinstance(name, str) and name:
                    out.append(name.lower())
            elif isinstance(t, str):
                out.append(t.lower())
    return out


def _pick(raw: Mapping[str, Any], ev: Mapping[str, Any], key: str) -> Any:
    """The market's own value, else its event's (Gamma sends null for inherited fields)."""
    v = raw.get(key)
    return ev.get(key) if v is None or v == "" else v


def market_from_gamma(raw: Mapping[str, Any], event: Mapping[str, Any] | None = None) -> MarketInfo:
    """Parse one Gamma market (optionally nested in an event, whose fields it inherits)."""
    if not isinstance(raw, Mapping):
        raise MarketParseError("a Gamma market must be a JSON object")
    ev: Mapping[str, Any] = event or {}
    if not ev:  # Gamma /markets items carry their parent events
        evs = raw.get("events")
        if isinstance(evs, list) and evs and isinstance(evs[0], dict):
            ev = evs[0]
    cid = raw.get("conditionId") or raw.get("condition_id")
    if not isinstance(cid, str) or not cid:
        raise MarketParseError("field 'conditionId' is missing: the market cannot be traded without it")
    tokens = _json_list(raw.get("clobTokenIds"), "clobTokenIds")
    if len(tokens) != 2 or not all(isinstance(t, (str, int)) for t in tokens):
        raise MarketParseError(
            f"market {cid}: field 'clobTokenIds' must list exactly 2 token ids (Yes, No), got {tokens!r}"[:300]
        )
    outcomes = tuple(str(o) for o in _json_list(raw.get("outcomes"), "outcomes")) or ("Yes", "No")
    ev_tags = tag_names(ev.get("tags"))
    tags = tuple(dict.fromkeys(tag_names(raw.get("tags")) + ev_tags))
    category = str(raw.get("category") or ev.get("category") or "")
    fees_enabled = _as_bool(_pick(raw, ev, "feesEnabled"), False)
    fee_rate: float | None = 0.0
    if fees_enabled:
        explicit = raw.get("feeRate")
        fee_rate = float(explicit) if isinstance(explicit, (int, float)) else category_fee_rate(category, tags)
        if fee_rate is not None and not 0 <= fee_rate <= 1:  # NaN too: it would fail at the first fee
            raise MarketParseError(f"field 'feeRate' must be a fraction in [0, 1], got {explicit!r}")
    neg_risk = _as_bool(_pick(raw, ev, "negRisk"), False)
    nr_id = raw.get("negRiskMarketID") or ev.get("negRiskMarketID") or ""
    augmented = _as_bool(raw.get("negRiskAugmented"), False) or (
        _as_bool(ev.get("negRiskAugmented"), False) and _as_bool(ev.get("enableNegRisk"), True))
    return _with_event_outcomes(MarketInfo(
        condition_id=cid,
        question=str(raw.get("question") or ""),
        slug=str(raw.get("slug") or ""),
        yes_token_id=str(tokens[0]),
        no_token_id=str(tokens[1]),
        outcomes=outcomes,
        neg_risk=neg_risk,
        neg_risk_market_id=str(nr_id),
        tick_size_e6=_num_e6(raw.get("orderPriceMinTickSize"), "orderPriceMinTickSize", 10_000),
        min_size_e6=_num_e6(raw.get("orderMinSize"), "orderMinSize", 5_000_000),
        fees_enabled=fees_enabled,
        fee_rate=fee_rate,
        end_date=str(raw.get("endDate") or raw.get("endDateIso") or ev.get("endDate") or ""),
        category=category,
        tags=tags,
        active=_as_bool(raw.get("active"), True),
        closed=_as_bool(raw.get("closed"), False),
        accepting_orders=_as_bool(raw.get("acceptingOrders"), True),
        enable_order_book=_as_bool(raw.get("enableOrderBook"), True),
        event_id=str(ev.get("id") or raw.get("eventId") or ""),
        event_slug=str(ev.get("slug") or raw.get("eventSlug") or ""),
        group_item_title=str(raw.get("groupItemTitle") or ""),
        gamma_id=str(raw.get("id") or ""),
        neg_risk_augmented=augmented,
    ), raw, ev)


def _with_event_outcomes(m: MarketInfo, raw: Mapping[str, Any], ev: Mapping[str, Any]) -> MarketInfo:
    """The event's unresolved outcomes: from the event's own `markets` (Gamma `/events`), else from
    `eventOutcomeIds` (written by `flatten_event_markets` so a markets file keeps it)."""
    ids: list[str] = []
    markets = ev.get("markets")
    if isinstance(markets, list) and markets:
        for om in markets:
            if isinstance(om, Mapping) and om.get("conditionId") and not _as_bool(om.get("closed"), False):
                ids.append(str(om["conditionId"]))
    else:
        ids = [str(x) for x in _json_list(raw.get("eventOutcomeIds"), "eventOutcomeIds")]
    if not ids:
        return m
    return replace(m, event_outcome_ids=tuple(sorted(set(ids))))


def complete_negrisk_events(markets: Iterable[MarketInfo]) -> dict[str, list[MarketInfo]]:
    """The neg-risk events whose outcomes form a complete set: negRiskMarketID -> its markets
    (sorted by condition id), only when every unresolved outcome of the event (per Gamma
    `/events`) is among `markets` and tradable, the event is not augmented neg risk, and it has
    at least two outcomes. A subset of an event is a directional bet, not an arbitrage: an
    outcome not accepting orders, a placeholder/"Other" outcome, an outcome cut by maxMarkets
    or an event whose outcome list is unknown all leave it out."""
    groups: dict[str, list[MarketInfo]] = {}
    for m in markets:
        if m.neg_risk and m.neg_risk_market_id:
            groups.setdefault(m.neg_risk_market_id, []).append(m)
    out: dict[str, list[MarketInfo]] = {}
    for key, ms in groups.items():
        if any(m.neg_risk_augmented for m in ms):
            continue
        want = {i for m in ms for i in m.event_outcome_ids}
        by_id = {m.condition_id: m for m in ms if m.tradable}
        if len(want) < 2 or not all(m.event_outcome_ids for m in ms) or set(by_id) != want:
            continue
        out[key] = [by_id[c] for c in sorted(want)]
    return out


def markets_from_event(event: Mapping[str, Any]) -> list[MarketInfo]:
    markets = event.get("markets") or []
    if not isinstance(markets, list):
        raise MarketParseError("event field 'markets' must be a list")
    return [market_from_gamma(m, event) for m in markets]


def load_markets_file(path: str | Path) -> list[MarketInfo]:
    """Read a markets file (Gamma `/markets` JSON: a list) as written by `botfleet record`.

    A list of events (objects with a `markets` list) is accepted too.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise MarketParseError(f"cannot read markets file {p}: {e}") from None
    if not isinstance(data, list):
        raise MarketParseError(f"markets file {p} must hold a JSON list of Gamma markets")
    out: list[MarketInfo] = []
    for i, item in enumerate(data):
        try:
            if isinstance(item, dict) and "markets" in item and "conditionId" not in item:
                out.extend(markets_from_event(item))
            else:
                out.append(market_from_gamma(item))
        except MarketParseError as e:
            raise MarketParseError(f"{p} item {i}: {e}") from None
    return out


log = logging.getLogger(__name__)

_IDS_PER_REQUEST = 50  # keeps query strings well under URL length limits
_EVENT_FIELDS = ("negRisk", "negRiskMarketID", "feesEnabled", "category")


class GammaError(RuntimeError):
    """Gamma (or the CLOB fee endpoint) answered with an error or an unexpected shape."""


@dataclass(slots=True)
class MarketFilter:
    condition_ids: Sequence[str] = ()
    slugs: Sequence[str] = ()
    tag_ids: Sequence[str | int] = ()
    # matched against the market's category and tag slugs/labels, case-insensitively
    categories: Sequence[str] = ()
    tradable_only: bool = True  # active, not closed, order book enabled, accepting orders
    max_markets: int | None = None
    extra_params: Mapping[str, str] = field(default_factory=dict)


def is_tradable(raw: Mapping[str, Any]) -> bool:
    def flag(name: str, default: bool) -> bool:
        v = raw.get(name)
        if v is None:
            return default
        if isinstance(v, str):
            return v.lower() == "true"
        return bool(v)

    return (
        flag("active", True)
        and not flag("closed", False)
        and flag("enableOrderBook", False)
        and flag("acceptingOrders", False)
    )


def matches_categories(raw: Mapping[str, Any], categories: Iterable[str]) -> bool:
    wanted = {c.strip().lower() for c in categories if c.strip()}
    if not wanted:
        return True
    names = {str(raw.get("category") or "").lower(), *tag_names(raw.get("tags"))}
    for t in raw.get("tags") or []:
        if isinstance(t, dict) and isinstance(t.get("label"), str):
            names.add(t["label"].lower())
    return bool(wanted & names)


def flatten_event_markets(events: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Gamma markets of events, each carrying its event's grouping fields and tags, so a
    markets file written from them is self-contained."""
    out: list[dict[str, Any]] = []
    for ev in events:
        for m in ev.get("markets") or []:
            if not isinstance(m, dict):
                continue
            mm = dict(m)
            for k in _EVENT_FIELDS:
                if mm.get(k) in (None, "") and ev.get(k) not in (None, ""):
                    mm[k] = ev[k]
            if not mm.get("tags") and ev.get("tags"):
                mm["tags"] = ev["tags"]
            mm.setdefault("eventId", ev.get("id"))
            mm.setdefault("eventSlug", ev.get("slug"))
            # event completeness travels with each market (a markets file has no events)
            mm.setdefault("eventOutcomeIds", event_outcome_ids(ev))
            if _flag(ev.get("negRiskAugmented")) and ev.get("enableNegRisk") is not False:
                mm["negRiskAugmented"] = True
            out.append(mm)
    return out


def _flag(v: Any) -> bool:
    return v.lower() == "true" if isinstance(v, str) else bool(v)


def event_outcome_ids(event: Mapping[str, Any]) -> list[str]:
    """Condition ids of the unresolved (not closed) outcome markets of a Gamma event."""
    return sorted(str(m["conditionId"]) for m in event.get("markets") or []
                  if isinstance(m, dict) and m.get("conditionId") and not _flag(m.get("closed")))


def parse_markets(raws: Iterable[Mapping[str, Any]], *, skip_bad: bool = True) -> list[MarketInfo]:
    """Gamma markets -> MarketInfo. Markets without a usable token pair are skipped (logged)."""
    out: list[MarketInfo] = []
    for raw in raws:
        try:
            out.append(market_from_gamma(raw))
        except MarketParseError as e:
            if not skip_bad:
                raise
            log.info("skipping Gamma market: %s", e)
    return out


class GammaClient:
    def __init__(
        self,
        base_url: str = GAMMA_URL,
        session: aiohttp.ClientSession | None = None,
        *,
        page_size: int = 100,
        timeout_s: float = 15.0,
        max_retries: int = 4,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.base_url = base_url.rstrip("/")
        self._session = session
        self._own_session = session is None
        self.page_size = page_size
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.max_retries = max_retries

    async def __aenter__(self) -> GammaClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def get_json(self, url: str, params: list[tuple[str, str]] | None = None) -> Any:
        """GET with retries on 429 / 5xx (Retry-After honoured, else exponential)."""
        delay = 0.5
        for attempt in range(self.max_retries + 1):
            async with self._http().get(url, params=params) as resp:
                if resp.status == 429 or resp.status >= 500:
                    if attempt == self.max_retries:
                        raise GammaError(f"GET {url} failed with HTTP {resp.status} after {attempt + 1} tries")
                    ra = resp.headers.get("Retry-After", "")
                    wait = float(ra) if ra.replace(".", "", 1).isdigit() else delay
                    await asyncio.sleep(min(wait, 30.0))
                    delay *= 2
                    continue
                if resp.status >= 400:
                    text = (await resp.text())[:200]
                    raise GammaError(f"GET {url} failed with HTTP {resp.status}: {text}")
                try:
                    return orjson.loads(await resp.read())
                except orjson.JSONDecodeError as e:
                    raise GammaError(f"GET {url} returned invalid JSON: {e}") from None
        raise GammaError(f"GET {url}: no attempts made")  # max_retries < 0

    async def _paginate(self, path: str, params: list[tuple[str, str]], limit: int | None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        offset = 0
        prev_first: Any = None
        while True:
            page_params = [*params, ("limit", str(self.page_size)), ("offset", str(offset))]
            page = await self.get_json(self.base_url + path, page_params)
            if isinstance(page, dict) and isinstance(page.get("data"), list):  # keyset-style wrapper
                page = page["data"]
            if not isinstance(page, list):
                raise GammaError(f"GET {path} returned {type(page).__name__}, expected a list")
            if page and page[0] == prev_first:  # a server that ignores `offset` would loop forever
                raise GammaError(f"GET {path} returned the same page for offset {offset}: pagination is broken")
            prev_first = page[0] if page else None
            out.extend(p for p in page if isinstance(p, dict))
            if len(page) < self.page_size or (limit is not None and len(out) >= limit):
                return out if limit is None else out[:limit]
            offset += len(page)

    def _base_params(self, f: MarketFilter) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        if f.tradable_only:
            params += [("active", "true"), ("closed", "false")]
        params += [("tag_id", str(t)) for t in f.tag_ids]
        params += list(f.extra_params.items())
        return params

    async def markets_raw(self, f: MarketFilter | None = None) -> list[dict[str, Any]]:
        """Gamma `/markets` JSON matching the filter (paginated, filtered client-side too)."""
        f = f or MarketFilter()
        base = self._base_params(f)
        raws: list[dict[str, Any]] = []
        if f.condition_ids or f.slugs:
            # separate requests: Gamma ANDs different filters, we want either
            for key, values in (("condition_ids", f.condition_ids), ("slug", f.slugs)):
                for i in range(0, len(values), _IDS_PER_REQUEST):
                    chunk = [(key, v) for v in values[i : i + _IDS_PER_REQUEST]]
                    raws += await self._paginate("/markets", base + chunk, None)
        else:
            # fetch a little more than wanted: some are dropped by the client-side filter
            raws = await self._paginate("/markets", base, None if f.max_markets is None else f.max_markets * 4)
        return self._filter(raws, f)

    async def events_raw(self, f: MarketFilter | None = None) -> list[dict[str, Any]]:
        """Gamma `/events` JSON (each with its `markets`)."""
        f = f or MarketFilter()
        base = self._base_params(f)
        base += [("slug", s) for s in f.slugs]
        return await self._paginate("/events", base, None)

    async def event_markets_raw(self, f: MarketFilter | None = None) -> list[dict[str, Any]]:
        """The markets of `/events`, flattened, with event fields inherited; filtered."""
        f = f or MarketFilter()
        # slugs name events here, so they are not re-applied to the markets
        events = await self.events_raw(f)
        return self._filter(flatten_event_markets(events), replace(f, slugs=()))

    def _filter(self, raws: list[dict[str, Any]], f: MarketFilter) -> list[dict[str, Any]]:
        seen: set[str] = set()
        out: list[dict[str, Any]] = []
        cids = set(f.condition_ids)
        for r in raws:
            cid = r.get("conditionId")
            if not isinstance(cid, str) or cid in seen:
                continue
            if cids and cid not in cids and r.get("slug") not in set(f.slugs):
                continue
            if f.tradable_only and not is_tradable(r):
                continue
            if not matches_categories(r, f.categories):
                continue
            seen.add(cid)
            out.append(r)
            if f.max_markets is not None and len(out) >= f.max_markets:
                break
        return out

    async def markets(self, f: MarketFilter | None = None) -> list[MarketInfo]:
        return parse_markets(await self.markets_raw(f))

    async def event_markets(self, f: MarketFilter | None = None) -> list[MarketInfo]:
        return parse_markets(await self.event_markets_raw(f))

    async def market(self, condition_id: str) -> MarketInfo | None:
        """One market by condition id (`/markets?condition_ids=`), open or not; None when Gamma
        does not know it."""
        data = await self.get_json(self.base_url + "/markets", [("condition_ids", condition_id)])
        return market_from_gamma(data[0]) if isinstance(data, list) and data else None

    async def resolutions(self, condition_ids: Iterable[str], batch: int = 50) -> dict[str, str]:
        """condition id -> winning token for those of `condition_ids` that Gamma reports closed
        (for a `market_resolved` event the bot missed)."""
        ids = sorted(set(condition_ids))
        out: dict[str, str] = {}
        for i in range(0, len(ids), batch):
            params = [("condition_ids", c) for c in ids[i:i + batch]] + [("closed", "true")]
            data = await self.get_json(self.base_url + "/markets", params)
            for m in data if isinstance(data, list) else []:
                if isinstance(m, dict):
                    w = winner_from_gamma(m)
                    cid = m.get("conditionId")
                    if w is not None and isinstance(cid, str):
                        out[cid] = w
        return out

    async def event_facts(self, event_ids: Iterable[str]) -> dict[str, tuple[tuple[str, ...], bool]]:
        """event id -> (condition ids of its unresolved outcomes, augmented neg risk?) from Gamma
        `/events/{id}`, one request per event. An event that cannot be read is left out, which
        leaves its neg-risk outcomes without a set (never a guess)."""
        found: dict[str, tuple[tuple[str, ...], bool]] = {}
        for eid in sorted(set(event_ids)):
            try:
                ev = await self.get_json(f"{self.base_url}/events/{eid}")
            except (GammaError, aiohttp.ClientError) as e:
                log.warning("event %s unreadable: its neg-risk outcomes form no set: %s", eid, e)
                continue
            if isinstance(ev, list):
                ev = ev[0] if ev else {}
            if isinstance(ev, dict):
                augmented = _flag(ev.get("negRiskAugmented")) and ev.get("enableNegRisk") is not False
                found[eid] = (tuple(event_outcome_ids(ev)), augmented)
        return found

    async def annotate_events(self, markets: Sequence[MarketInfo]) -> list[MarketInfo]:
        """Neg-risk markets with their event's outcome list and augmented flag (`event_facts`),
        which decide whether the event's outcomes form a complete set."""
        facts = await self.event_facts(m.event_id for m in markets if m.neg_risk and m.event_id)
        out: list[MarketInfo] = []
        for m in markets:
            if m.event_id in facts:
                ids, aug = facts[m.event_id]
                m = replace(m, event_outcome_ids=ids, neg_risk_augmented=m.neg_risk_augmented or aug)
            out.append(m)
        return out

    async def annotate_raw_events(self, raws: Sequence[dict[str, Any]]) -> None:
        """The same, written into Gamma market JSON (`eventOutcomeIds`, `negRiskAugmented`) so a
        recorded markets file keeps it."""
        def eid(r: Mapping[str, Any]) -> str:
            evs = r.get("events")
            first = evs[0] if isinstance(evs, list) and evs and isinstance(evs[0], dict) else {}
            return str(first.get("id") or r.get("eventId") or "")

        facts = await self.event_facts(eid(r) for r in raws if _flag(r.get("negRisk")) and eid(r))
        for r in raws:
            if eid(r) in facts:
                ids, aug = facts[eid(r)]
                r["eventOutcomeIds"] = list(ids)
                r["negRiskAugmented"] = _flag(r.get("negRiskAugmented")) or aug

    async def fee_rate(self, clob_url: str, token_id: str) -> float:
        """Taker fee rate from CLOB `GET /fee-rate?token_id=` (`{"base_fee": bps}`)."""
        data = await self.get_json(clob_url.rstrip("/") + "/fee-rate", [("token_id", token_id)])
        if not isinstance(data, dict):
            raise GammaError("GET /fee-rate returned a non-object")
        bps = data.get("base_fee", data.get("fee_rate_bps", 0)) or 0
        try:
            return rate_ppm_from_bps(bps) / E6
        except (TypeError, ValueError):
            raise GammaError(f"GET /fee-rate: field 'base_fee' is not a number: {bps!r}") from None

    async def clob_fee(self, clob_url: str, condition_id: str) -> tuple[float, int] | None:
        """The market's fee data as the exchange publishes it: `GET /clob-markets/{condition_id}`
        -> `fd: {r: rate, e: exponent}` (what py-clob-client-v2 reads); None when absent."""
        data = await self.get_json(f"{clob_url.rstrip('/')}/clob-markets/{condition_id}")
        fd = data.get("fd") if isinstance(data, dict) else None
        if not isinstance(fd, dict) or fd.get("r") is None:
            return None
        try:
            return float(fd["r"]), int(fd.get("e", 1) or 1)
        except (TypeError, ValueError):
            raise GammaError(f"GET /clob-markets/{condition_id}: fee data {fd!r} is not numeric") from None

    async def fill_fee_rates(self, markets: Sequence[MarketInfo], clob_url: str) -> list[MarketInfo]:
        """Every fee-enabled market's taker fee rate from the exchange: `/clob-markets/{id}` fee
        data, else `/fee-rate`. The category table (and Gamma's own field) is only the fallback
        when the exchange answers neither, logged; markets without fees have rate 0."""
        out: list[MarketInfo] = []
        for m in markets:
            if not m.fees_enabled:
                out.append(m if m.fee_rate == 0.0 else replace(m, fee_rate=0.0))
                continue
            venue: tuple[float, int] | None = None
            try:
                venue = await self.clob_fee(clob_url, m.condition_id)
                if venue is None:
                    venue = (await self.fee_rate(clob_url, m.yes_token_id), 1)
            except (GammaError, aiohttp.ClientError, TimeoutError) as e:
                log.warning("fee rate of %s not available from the exchange (%s); using %s", m.condition_id, e,
                            "the category default" if m.fee_rate is not None else "the highest rate (7%)")
            if venue is not None:
                m = replace(m, fee_rate=venue[0], fee_exponent=venue[1])
            out.append(m)
        return out
