"""On-chain sources: Polymarket exchange `OrderFilled` logs read with web3 (EliteMimic's whale feed)."""
