"""Fixtures for the events tests: see tests/events/fixtures.py (shared with tests/web/test_webhooks.py)."""

from tests.events.fixtures import backend, clock, engine, events_sqlite_template, ledger  # noqa: F401
