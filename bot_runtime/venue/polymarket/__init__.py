"""The Polymarket adapter: URLs, contracts, units, fees, rate limits, auth, signing and wire clients.

Every Polymarket fact is spelled once in this package (docs/venue.md: each fact with its public source);
it imports nothing from the rest of bot_runtime except the leaf data types.
"""
