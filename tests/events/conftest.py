"""Fixtures for the events tests: see tests/events/fixtures.py (shared with tests/web/test_webhooks.py)."""

from tests.events.fixtures import (  # noqa: F401 - registered by their names: backend, engine, clock, ledger
    backend_fixture,
    clock_fixture,
    engine_fixture,
    ledger_fixture,
    sqlite_template_fixture,
)
