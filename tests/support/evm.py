"""An in-process EVM (web3 + eth-tester + py-evm) with the FillEmitter test contract deployed.

FillEmitter (bot_runtime/chain/contracts/FillEmitter.sol, compiled by build.sh with npm solc) emits
the Polymarket exchanges' OrderFilled (V1, V2) and OrdersMatched events with their real signatures.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ARTIFACT = Path(__file__).resolve().parents[2] / "bot_runtime" / "chain" / "contracts" / "FillEmitter.json"


@dataclass
class Evm:
    w3: Any
    emitter: Any            # web3 Contract bound to the deployed FillEmitter
    accounts: list[str]

    @property
    def exchange(self) -> str:
        return str(self.emitter.address)

    def transact(self, fn: Any) -> Any:
        tx = fn.transact({"from": self.accounts[0]})
        return self.w3.eth.wait_for_transaction_receipt(tx)

    def mine(self, n: int = 1) -> None:
        self.w3.testing.mine(n)

    def snapshot(self) -> Any:
        return self.w3.testing.snapshot()

    def revert(self, snap: Any) -> None:
        self.w3.testing.revert(snap)


def start_evm() -> Evm:
    from web3 import EthereumTesterProvider, Web3

    w3 = Web3(EthereumTesterProvider())
    art = json.loads(ARTIFACT.read_text())
    factory = w3.eth.contract(abi=art["abi"], bytecode=art["bytecode"])
    tx = factory.constructor().transact({"from": w3.eth.accounts[0]})
    addr = w3.eth.wait_for_transaction_receipt(tx)["contractAddress"]
    return Evm(w3, w3.eth.contract(address=addr, abi=art["abi"]), list(w3.eth.accounts))


@pytest.fixture(scope="module")
def evm() -> Iterator[Evm]:
    """One chain per test module (starting py-evm takes seconds); tests isolate with snapshots."""
    yield start_evm()
