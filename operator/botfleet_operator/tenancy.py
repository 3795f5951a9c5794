"""What a TradingBot author may choose: image, environment, outbound endpoints, scheduling, Secrets.

A tenant who may only create TradingBots must not run arbitrary code next to a wallet the cluster
admin provisioned, nor redirect where the bot sends its credentials:

- `spec.image` must be the operator's bot image or match `Settings.allowed_images` (the cluster
  admin's list: registry/repository prefixes ending in `/`, repositories (any tag or digest), exact
  references); a custom image is always pulled (`imagePullPolicy: Always`), so the kubelet checks
  the tenant's pull credentials and a node's cached copy of another tenant's private image is not
  reused;
- `spec.env` names come from an allowlist (`ENV_ALLOWED`, also a CEL rule at admission): names such
  as OPENAI_BASE_URL, HTTPS_PROXY, SSL_CERT_FILE, PYTHONPATH or LD_PRELOAD would send the API keys
  elsewhere or load other code, and a denylist always misses one;
- URLs in the spec that receive a key from a Secret (`params.llmBaseUrl` gets OPENAI_API_KEY,
  `backup.s3.endpoint` the S3 keys) must match `Settings.allowed_endpoints` (the admin's list;
  by default OpenAI's API and AWS S3 only): otherwise the author picks the host the key goes to;
- scheduling may not tolerate every taint nor target the control plane (its nodes run the API
  server's and etcd's secrets), and toleration keys may be limited to the admin's list;
- a Secret is used only when its owner opted it in for the bot (`secret_allowed`, the label
  `LABEL_SECRET_BOTS`): the author names Secrets, but may not name one never meant for bots.

Pure functions; the reconciler applies nothing while `problem` returns a message (Degraded=NotAllowed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from botfleet_operator.api import TradingBot

# Exact names, then patterns (CEL `matches` uses RE2: keep these RE2-compatible).
ENV_ALLOWED_NAMES = ("TZ", "LANG", "LANGUAGE", "LC_ALL", "MALLOC_ARENA_MAX")
ENV_ALLOWED_PATTERN = r"^(LC_[A-Z]+|BOT_[A-Z0-9_]+)$"
ENV_ALLOWED_TEXT = "TZ, LANG, LANGUAGE, LC_ALL, LC_*, MALLOC_ARENA_MAX and BOT_* (your own settings)"

# An image reference: [host[:port]/]path[:tag][@sha256:digest], lowercase path components.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
                    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")


# Outbound endpoints allowed when the admin lists none (operator.allowedEndpoints replaces the list).
# A `*` stands for exactly one DNS label: `s3.*.amazonaws.com` is every region's S3 endpoint, and
# nothing else AWS hosts for its customers (API Gateway, CloudFront...).
DEFAULT_ALLOWED_ENDPOINTS = ("https://api.openai.com/", "https://s3.amazonaws.com/", "https://s3.*.amazonaws.com/")

# The Secret's owner opts it in: `botfleet.io/bots=<bot>`, `=all`, or several bots joined by `_`
# (a label value cannot hold `*` or `,`; a bot name cannot hold `_`).
LABEL_SECRET_BOTS = "botfleet.io/bots"
ALL_BOTS = "all"

# Taints and node labels of control-plane nodes (kubeadm; `master` before 1.24).
CONTROL_PLANE_KEYS = ("node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master")


def secret_allowed(labels: Mapping[str, str] | None, bot: str) -> bool:
    """Has the Secret's owner opted it in for `bot`?"""
    value = (labels or {}).get(LABEL_SECRET_BOTS)
    return value is not None and (value == ALL_BOTS or bot in value.split("_"))


def _endpoint_parts(url: str) -> tuple[str, str, int | None, str] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower().rstrip("."), port, parts.path or "/"


def _host_matches(pattern: str, host: str) -> bool:
    want, have = pattern.split("."), host.split(".")
    return len(want) == len(have) and all(w in ("*", h) for w, h in zip(want, have, strict=True))


def endpoint_allowed(url: str, allowed: tuple[str, ...]) -> bool:
    """Does `url` fall under one of the `allowed` entries (scheme, host with `*` per label, port,
    and path prefix all match)? Credentials or a query in the URL never match."""
    have = _endpoint_parts(url)
    if have is None or "@" in urlsplit(url).netloc:
        return False
    scheme, host, port, path = have
    default_port = {"https": 443, "http": 80}.get(scheme)
    for entry in allowed:
        want = _endpoint_parts(entry)
        if want is None:
            continue
        w_scheme, w_host, w_port, w_path = want
        if w_scheme != scheme or not _host_matches(w_host, host):
            continue
        if (w_port or default_port) != (port or default_port):
            continue
        prefix = w_path if w_path.endswith("/") else w_path + "/"
        if path == w_path or (path + "/").startswith(prefix):
            return True
    return False


def _endpoints(bot: TradingBot) -> list[tuple[str, str]]:
    """(field, URL) of every spec URL that is sent a Secret's key."""
    out = []
    llm = (bot.spec.params or {}).get("llmBaseUrl")
    if llm:
        out.append(("spec.params.llmBaseUrl", str(llm)))
    s3 = bot.spec.backup.s3 if bot.spec.backup else None
    if s3:
        out.append(("spec.backup.s3.endpoint", s3.endpoint))
    return out


def _scheduling_problems(bot: TradingBot, toleration_keys: tuple[str, ...]) -> list[str]:
    spec = bot.spec
    problems = []
    for i, t in enumerate(spec.tolerations or []):
        field = f"spec.tolerations[{i}]"
        if not t.key:
            problems.append(f"{field} has no key: it would tolerate every taint (dedicated and control-plane "
                            "nodes too); name the taint's key")
        elif t.key in CONTROL_PLANE_KEYS:
            problems.append(f"{field}: bots may not run on control-plane nodes ({t.key}); remove it")
        elif toleration_keys and t.key not in toleration_keys:
            problems.append(f"{field}: taint key {t.key!r} is not allowed by the cluster's scheduling policy "
                            f"(allowed: {', '.join(toleration_keys)}); ask the cluster admin "
                            "(operator.scheduling.allowedTolerationKeys)")
    for key in spec.nodeSelector or {}:
        if key in CONTROL_PLANE_KEYS:
            problems.append(f"spec.nodeSelector: bots may not run on control-plane nodes ({key}); remove it")
    if spec.affinity:
        text = json.dumps(spec.affinity)
        for key in CONTROL_PLANE_KEYS:
            if json.dumps(key) in text:
                problems.append(f"spec.affinity names {key}: bots may not run on control-plane nodes; remove it")
    return problems


def env_allowed(name: str) -> bool:
    return name in ENV_ALLOWED_NAMES or re.fullmatch(ENV_ALLOWED_PATTERN, name) is not None


def _repository(image: str) -> str:
    """The reference without tag and digest."""
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)
    if ":" in last[-1]:
        return image[: image.rindex(":")]
    return image


def image_allowed(image: str, default_image: str, allowed: tuple[str, ...]) -> bool:
    if image == default_image:
        return True
    if not _IMAGE.fullmatch(image):
        return False
    for entry in allowed:
        if entry.endswith("/"):                       # a registry or a path: anything under it
            if image.startswith(entry):
                return True
        elif "@" in entry or ":" in entry.rsplit("/", 1)[-1]:  # an exact reference (tag or digest)
            if image == entry:
                return True
        elif _repository(image) == entry:            # a repository: any tag or digest of it
            return True
    return False


def problem(bot: TradingBot, default_image: str, allowed_images: tuple[str, ...],
            allowed_endpoints: tuple[str, ...] = DEFAULT_ALLOWED_ENDPOINTS,
            toleration_keys: tuple[str, ...] = ()) -> str | None:
    """Why the spec may not run here (naming the field and the fix), or None."""
    problems = []
    image = bot.spec.image
    if image and not image_allowed(image, default_image, allowed_images):
        allowed = ", ".join(allowed_images) or default_image
        problems.append(f"spec.image {image!r} is not allowed by the cluster's image policy (allowed: {allowed}); "
                        "use an allowed image or ask the cluster admin to add it (operator.allowedImages)")
    bad_env = sorted({e.name for e in bot.spec.env or [] if not env_allowed(e.name)})
    if bad_env:
        problems.append(f"spec.env: {', '.join(bad_env)} may not be set; only {ENV_ALLOWED_TEXT} are allowed")
    for field, url in _endpoints(bot):
        if not endpoint_allowed(url, allowed_endpoints):
            problems.append(f"{field} {url!r} is not an allowed endpoint (allowed: {', '.join(allowed_endpoints)}): "
                            "a key from your Secrets is sent there; use an allowed one or ask the cluster admin "
                            "to add it (operator.allowedEndpoints)")
    problems += _scheduling_problems(bot, toleration_keys)
    return "; ".join(problems) or None


def pull_policy(bot: TradingBot, default_image: str, default_policy: str) -> str:
    return "Always" if bot.spec.image and bot.spec.image != default_image else default_policy
