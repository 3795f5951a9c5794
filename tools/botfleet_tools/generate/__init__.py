"""Generators of checked-in files (chart copies, dashboards, dashboard pictures). `make generate`
runs them all, together with the operator's CRD and API-reference generators; tests/chart fails on
drift."""
