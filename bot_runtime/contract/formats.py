"""String formats of the TradingBot API, shared by the runtime models and the CRD generator.

A `Format` is one regular expression (RE2-compatible: the API server, CEL and pydantic-core all
accept it) plus the words a user needs when a value does not match: what it must be and an example.
`formatted(...)` puts both on a pydantic field: pydantic checks the pattern at runtime, and the CRD
generator (botfleet_operator/schema.py) turns the hint into a CEL rule whose message says what to
write instead, rather than the API server's bare "should match '<regex>'".

Cron schedules are checked field by field (`cron_problems`): the same regular expressions become one
CEL rule per field in the CRD, so `kubectl apply` names the field (minute, hour...) that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pydantic import Field

FORMAT_KEY = "x-botfleet-format"


@dataclass(frozen=True)
class Format:
    regex: str      # full match: starts with ^ and ends with $
    what: str       # "a wallet address: 0x followed by 40 hex digits"
    example: str

    @property
    def message(self) -> str:
        return f"must be {self.what}, e.g. {self.example}"

    def hint(self) -> dict[str, Any]:
        return {FORMAT_KEY: {"regex": self.regex, "message": self.message}}

    def check(self, value: str) -> None:
        if not re.fullmatch(self.regex, value):
            raise ValueError(self.message)


def formatted(fmt: Format, default: Any = ..., **kwargs: Any) -> Any:
    """A pydantic Field with `fmt` as pattern and as CRD hint."""
    return Field(default, pattern=fmt.regex, json_schema_extra=fmt.hint(), **kwargs)


_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED = r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"

WALLET_ADDRESS = Format(r"^0x[0-9a-fA-F]{40}$", "a wallet address: 0x followed by 40 hex digits",
                        "0x56687bf447db6ffa42ffe2204a05edaa20f55839")
CONDITION_ID = Format(r"^0x[0-9a-fA-F]{64}$", "a condition id: 0x followed by 64 hex digits", "0x" + "5f" * 32)
TOKEN_ID = Format(r"^[0-9]{1,78}$", "a token id: decimal digits only (a uint256)",
                  "71321045679252212594626385532706912750332728571942532289631379312455583992563")
SLUG = Format(r"^[a-z0-9]+(-[a-z0-9]+)*$", "a slug: lowercase letters and digits separated by single '-'",
              "will-bitcoin-reach-100k")
HTTP_URL = Format(r"^https?://[^\s/?#@]+(/[^\s]*)?$", "an http:// or https:// URL with a host",
                  "https://api.openai.com/v1")
# Backups (every signed order) leave the cluster: TLS only, no plain-http escape hatch.
HTTPS_URL = Format(r"^https://[^\s/?#@]+(/[^\s]*)?$", "an https:// URL with a host (plain http is refused)",
                   "https://s3.eu-west-1.amazonaws.com")
QUANTITY = Format(
    r"^[+]?([0-9]+([.][0-9]*)?|[.][0-9]+)([KMGTPE]i|[mkMGTPE]|[eE][+-]?[0-9]+)?$",
    "a Kubernetes quantity: a number with an optional suffix m, k, M, G, Ki, Mi, Gi...", "512Mi")
DNS_SUBDOMAIN = Format(rf"^{_DNS_LABEL}([.]{_DNS_LABEL})*$",
                       "a DNS subdomain: lowercase letters, digits, '-' and '.', starting and ending with "
                       "a letter or digit", "my-secret")
SECRET_KEY = Format(r"^[-._a-zA-Z0-9]+$", "a Secret key name: letters, digits, '-', '_' and '.'", "PRIVATE_KEY")
ENV_NAME = Format(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$",
                  "an environment variable name: letters, digits, '_', '-' and '.', not starting with a digit",
                  "HTTP_PROXY")
LABEL_KEY = Format(rf"^({_DNS_LABEL}([.]{_DNS_LABEL})*/)?{_QUALIFIED}$",
                   "a label key: an optional DNS prefix and '/', then letters, digits, '-', '_' and '.'",
                   "topology.kubernetes.io/zone")
TOLERATION_KEY = Format(rf"^(({_DNS_LABEL}([.]{_DNS_LABEL})*/)?{_QUALIFIED})?$",
                        "a taint key: an optional DNS prefix and '/', then letters, digits, '-', '_' and '.'",
                        "example.com/dedicated")
LABEL_VALUE = Format(rf"^({_QUALIFIED})?$",
                     "a label value: at most 63 letters, digits, '-', '_' and '.', starting and ending with "
                     "a letter or digit", "eu-west-1a")
S3_BUCKET = Format(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
                   "an S3 bucket name: 3-63 lowercase letters, digits, '.' and '-'", "botfleet-backups")
MODEL_NAME = Format(r"^[A-Za-z0-9][-A-Za-z0-9_.:/@]*$",
                    "a model name: letters, digits and - _ . : / @", "gpt-4o-mini")
# docker/distribution's reference grammar: [registry[:port]/]path[:tag][@digest].
_IMG_COMPONENT = r"[a-z0-9]+(([.]|_|__|-+)[a-z0-9]+)*"
_IMG_HOST = r"([a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?([.][a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)*(:[0-9]+)?/)"
IMAGE = Format(
    rf"^{_IMG_HOST}?{_IMG_COMPONENT}(/{_IMG_COMPONENT})*(:[A-Za-z0-9_][-A-Za-z0-9_.]{{0,127}})?"
    r"(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$",
    "an image reference: [registry/]repository[:tag][@sha256:digest], repository in lowercase",
    "ghcr.io/example/botfleet:0.4.0")


# Cron --------------------------------------------------------------------------------------------
# What the CronJob controller accepts: Kubernetes parses schedules with robfig/cron v3 `ParseStandard`
# (parser.go getRange). Per field: '*', '?' (day fields here), a value, a range a-b whose start is not
# after its end (ranges do not wrap around), each optionally /step ('a/n' means a-max/n), and
# comma-separated lists of those; or a macro. Names (JAN-DEC, SUN-SAT, any case) count as their numbers,
# also inside ranges; day-of-week is 0-6 (7 is refused: "end of range (7) above maximum (6)").
CRON_MACROS = ("yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly")
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _numbers(low: int, high: int) -> list[str]:
    """Regex alternatives matching exactly the decimal numbers low..high (one leading zero allowed below 10)."""
    rows: list[tuple[int, int, str]] = []  # (first tens, last tens, units class)
    for tens in range(low // 10, high // 10 + 1):
        u_low, u_high = max(low, tens * 10) - tens * 10, min(high, tens * 10 + 9) - tens * 10
        units = str(u_low) if u_low == u_high else f"[{u_low}-{u_high}]"
        if rows and tens > 1 and rows[-1][0] >= 1 and rows[-1][1] == tens - 1 and rows[-1][2] == units:
            rows[-1] = (rows[-1][0], tens, units)
        else:
            rows.append((tens, tens, units))
    out = []
    for first, last, units in rows:
        prefix = "0?" if first == 0 else (str(first) if first == last else f"[{first}-{last}]")
        out.append(prefix + units)
    return out


@dataclass(frozen=True)
class CronField:
    name: str
    ordinal: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for the value name_base + i
    name_base: int = 0
    question: bool = False  # '?' allowed

    def values(self, low: int, high: int) -> str:
        """Regex of one value in low..high, as a number or a name."""
        alts = _numbers(low, high)
        named = [n for i, n in enumerate(self.names) if low <= self.name_base + i <= high]
        if named:
            alts.append(f"(?i:{'|'.join(named)})")
        return "|".join(alts)

    @property
    def allowed(self) -> str:  # words for the message
        names = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
        return f"{self.low}-{self.high}{names}"

    @property
    def regex(self) -> str:
        star = r"[*]|[?]" if self.question else r"[*]"
        # a-b with a <= b: one alternative per start value, its end any value from there up.
        ranges = "|".join(f"(?:{self.values(v, v)})-(?:{self.values(v, self.high)})"
                          for v in range(self.low, self.high + 1))
        item = rf"(?:{star}|{ranges}|{self.values(self.low, self.high)})(?:/[1-9][0-9]{{0,1}})?"
        return f"{item}(?:,{item})*"


CRON_FIELDS = (
    CronField("minute", "1st", 0, 59),
    CronField("hour", "2nd", 0, 23),
    CronField("day-of-month", "3rd", 1, 31, question=True),
    CronField("month", "4th", 1, 12, _MONTHS, name_base=1),
    CronField("day-of-week", "5th", 0, 6, _DAYS, question=True),
)
CRON_MACRO_REGEX = rf"^@({'|'.join(CRON_MACROS)})$"
CRON_SHAPE_REGEX = rf"^(@({'|'.join(CRON_MACROS)})|[^ ]+( +[^ ]+){{4}})$"
CRON_SHAPE_MESSAGE = ("must be 5 fields 'minute hour day-of-month month day-of-week' separated by spaces, e.g. "
                      "'0 */6 * * *', or one of " + ", ".join(f"@{m}" for m in CRON_MACROS))


def cron_field_regex(index: int) -> str:
    """Full-string regex: the 5-field schedule whose field `index` is valid."""
    before = "([^ ]+ +)" + f"{{{index}}}" if index else ""
    after = "( +[^ ]+)" + f"{{{4 - index}}}" if index < 4 else ""
    return f"^{before}({CRON_FIELDS[index].regex}){after}$"


def cron_field_message(index: int) -> str:
    f = CRON_FIELDS[index]
    q = ", '?'" if f.question else ""
    return (f"the {f.name} field ({f.ordinal}) must be '*'{q}, a value {f.allowed}, a range a-b with a not after b "
            "(ranges do not wrap around: write 22-23,0-2 instead of 22-2), a step like */5 or a comma-separated "
            "list of those")


def cron_problems(schedule: str) -> list[str]:
    """Why `schedule` is not a valid CronJob schedule (empty: valid). Mirrors the CRD's CEL rules."""
    if not re.fullmatch(CRON_SHAPE_REGEX, schedule):
        return [CRON_SHAPE_MESSAGE]
    if schedule.startswith("@"):
        return []
    return [cron_field_message(i) for i in range(5) if not re.fullmatch(cron_field_regex(i), schedule)]


def _cron_values(f: CronField, text: str) -> tuple[set[int], bool]:
    """(the values a valid field matches, whether robfig counts it as '*' for the day fields)."""
    values: set[int] = set()
    star = False

    def number(word: str) -> int:
        upper = word.upper()
        return f.name_base + f.names.index(upper) if upper in f.names else int(word)
    for item in text.split(","):
        span, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if span in ("*", "?"):
            low, high = f.low, f.high
            star = star or step == 1  # robfig: '*/n' with n > 1 is no star
        else:
            first, dash, last = span.partition("-")
            low = number(first)
            high = number(last) if dash else (f.high if step_text else low)
        values.update(range(low, high + 1, step))
    return values, star


_MONTH_DAYS = {1: 31, 2: 29, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}


def cron_never_fires(schedule: str) -> str | None:
    """Why a valid schedule never fires (its day-of-month in none of its months: `0 0 31 2 *`), or
    None. The CronJob controller accepts such a schedule and then never runs a Job. As robfig/cron:
    when both day fields are restricted a day matching either one fires, so only a day-of-week '*'
    (or '?') leaves the day-of-month alone to decide."""
    if schedule.startswith("@") or cron_problems(schedule):
        return None
    fields = schedule.split()
    days, _ = _cron_values(CRON_FIELDS[2], fields[2])
    months, _ = _cron_values(CRON_FIELDS[3], fields[3])
    _, weekday_star = _cron_values(CRON_FIELDS[4], fields[4])
    if not weekday_star or any(d <= _MONTH_DAYS[m] for m in months for d in days):
        return None
    return (f"'{schedule}' never fires: none of its months has day {min(days)}"
            f"{' or later' if len(days) > 1 else ''} (February has 29 days at most, April, June, September "
            "and November 30); choose a day every chosen month has")


def check_cron(schedule: str) -> str:
    problems = cron_problems(schedule)
    if problems:
        raise ValueError("; ".join(problems))
    if never := cron_never_fires(schedule):
        raise ValueError(never)
    return schedule
