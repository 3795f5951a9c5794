"""Child process of the crash test: submit one FOK group and die by SIGKILL at a crash point.

argv: sim_url journal_url crash_point market token price_e6 size_e6; credentials in the environment.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))

from exec_harness import build

from bot_runtime.types import OrderIntent
from bot_runtime.venue.polymarket.auth import ApiCreds


async def main() -> None:
    url, jurl, point, market, token, price, size = sys.argv[1:8]
    creds = ApiCreds(os.environ["T_API_KEY"], os.environ["T_SECRET"], os.environ["T_PASSPHRASE"])

    def hook(name: str) -> None:
        if name == point:
            os.kill(os.getpid(), signal.SIGKILL)

    ex = build(url, os.environ["T_PRIVATE_KEY"], creds, jurl, crash_hook=hook)
    await ex.start()
    await ex.submit([OrderIntent(market=market, token_id=token, side="BUY", price_e6=int(price), size_e6=int(size),
                                 order_type="FOK", group_id="crash")])
    print("survived", flush=True)


asyncio.run(main())
