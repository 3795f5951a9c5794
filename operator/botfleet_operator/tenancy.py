"""What a TradingBot author may choose for the pod: which image, which environment variables.

A tenant who may only create TradingBots must not run arbitrary code next to a wallet the cluster
admin provisioned, nor redirect where the bot sends its credentials:

- `spec.image` must be the operator's bot image or match `Settings.allowed_images` (the cluster
  admin's list: registry/repository prefixes ending in `/`, repositories (any tag or digest), exact
  references); a custom image is always pulled (`imagePullPolicy: Always`), so the kubelet checks
  the tenant's pull credentials and a node's cached copy of another tenant's private image is not
  reused;
- `spec.env` names come from an allowlist (`ENV_ALLOWED`, also a CEL rule at admission): names such
  as OPENAI_BASE_URL, HTTPS_PROXY, SSL_CERT_FILE, PYTHONPATH or LD_PRELOAD would send the API keys
  elsewhere or load other code, and a denylist always misses one.

Pure functions; the reconciler applies nothing while `problem` returns a message (Degraded=NotAllowed).
"""

from __future__ import annotations

import re

from botfleet_operator.api import TradingBot

# Exact names, then patterns (CEL `matches` uses RE2: keep these RE2-compatible).
ENV_ALLOWED_NAMES = ("TZ", "LANG", "LANGUAGE", "LC_ALL", "MALLOC_ARENA_MAX")
ENV_ALLOWED_PATTERN = r"^(LC_[A-Z]+|BOT_[A-Z0-9_]+)$"
ENV_ALLOWED_TEXT = "TZ, LANG, LANGUAGE, LC_ALL, LC_*, MALLOC_ARENA_MAX and BOT_* (your own settings)"

# An image reference: [host[:port]/]path[:tag][@sha256:digest], lowercase path components.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_IMAGE = re.compile(rf"^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
                    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?$")


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


def problem(bot: TradingBot, default_image: str, allowed_images: tuple[str, ...]) -> str | None:
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
    return "; ".join(problems) or None


def pull_policy(bot: TradingBot, default_image: str, default_policy: str) -> str:
    return "Always" if bot.spec.image and bot.spec.image != default_image else default_policy
