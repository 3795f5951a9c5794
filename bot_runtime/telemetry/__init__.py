"""Telemetry of a bot: Prometheus metrics, health endpoints and structured logs."""
