"""Fixtures for the execution integration tests: PostgreSQL and the simulated exchange."""

from __future__ import annotations

from tests.support.postgres import postgres_server, postgres_url
from tests.support.sim import TEST_ADDRESS, TEST_PRIVATE_KEY, sim_creds, static_sim

__all__ = ["TEST_ADDRESS", "TEST_PRIVATE_KEY", "postgres_server", "postgres_url", "sim_creds", "static_sim"]
