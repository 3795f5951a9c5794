"""Fixtures for the execution integration tests: PostgreSQL and the simulated exchange."""

from __future__ import annotations

from tests.support.postgres import postgres_server, postgres_url
from tests.support.sim import TEST_ADDRESS, TEST_PRIVATE_KEY, pyclob_static_sim, sim_creds, static_sim

__all__ = ["TEST_ADDRESS", "TEST_PRIVATE_KEY", "postgres_server", "postgres_url", "pyclob_static_sim", "sim_creds",
           "static_sim"]
