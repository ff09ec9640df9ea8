"""The documented engagement rules (``received``, ``clicked``) work on both databases, from every command;
and the audience's read-only views of the ledger and events match the tables they read."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience import ledger_view
from outreach.audience.consent import Consent
from outreach.audience.db import transaction
from outreach.audience.schema import ConsentMethod, Subscriber
from outreach.audience.segment_count import count_segment
from outreach.audience.segment_sql import compile_rule
from outreach.audience.segments import parse_rule
from outreach.audience.subscribers import add_subscriber
from outreach.clock import FixedClock
from outreach.delivery.schema import metadata
from outreach.errors import SegmentError

from .ledger import sent_campaign

TODAY = date(2026, 3, 1)


def _people(engine: Engine, clock: FixedClock, count: int) -> list[int]:
    with transaction(engine) as session:
        return [
            add_subscriber(
                session,
                f"p{i}@example.org",
                consent=Consent(ConsentMethod.ADMIN, source="test"),
                clock=clock,
                topics=["monthly-newsletter"],
            ).id
            for i in range(count)
        ]


def _matching(engine: Engine, text: str) -> list[str]:
    rule = parse_rule(text, "lists/segments.yaml")
    with transaction(engine) as session:
        query = sa.select(Subscriber.email).where(compile_rule(rule, TODAY)).order_by(Subscriber.email)
        return list(session.scalars(query))


def test_received_and_clicked_rules_answer_from_the_ledger_and_the_events(
    synced: Engine, clock: FixedClock
) -> None:
    p0, p1, p2, p3 = _people(synced, clock, 4)
    with transaction(synced) as session:
        march = sent_campaign(session, clock, "2026-03-spring", sent=[p0, p1, p2], failed=[p3], clicked=[p1])
        sent_campaign(session, clock, "2026-04-april", sent=[p3], clicked=[p3])
    assert _matching(synced, "received: 2026-03-spring") == [
        "p0@example.org",
        "p1@example.org",
        "p2@example.org",
    ]
    assert _matching(synced, f"received: {march}") == _matching(synced, "received: 2026-03-spring")
    assert _matching(synced, "clicked: 2026-03-spring") == ["p1@example.org"]
    assert _matching(synced, "all: [{received: 2026-03-spring}, {not: {clicked: 2026-03-spring}}]") == [
        "p0@example.org",
        "p2@example.org",
    ]
    assert _matching(synced, "not: {received: 2026-03-spring}") == ["p3@example.org"]
    assert _matching(synced, "clicked: 2026-05-none") == []
    with transaction(synced) as session:
        counted = count_segment(session, parse_rule("clicked: 2026-04-april"), TODAY)
    assert (counted.matching, counted.mailable) == (1, 1)


def test_opens_are_not_recorded_and_the_rule_says_so() -> None:
    with pytest.raises(SegmentError, match=r"lists/segments\.yaml:1: opens are not recorded; use 'clicked"):
        parse_rule("opened: 2026-03-spring", "lists/segments.yaml")


@pytest.mark.parametrize("view", [ledger_view.campaigns, ledger_view.deliveries, ledger_view.events])
def test_the_views_name_real_columns_of_compatible_types(view: sa.TableClause) -> None:
    table = metadata.tables[view.name]
    for column in view.columns:
        assert column.name in table.columns, f"{view.name}.{column.name} is not a column"
        real = table.columns[column.name].type
        assert column.type._type_affinity is real._type_affinity or (  # type: ignore[attr-defined]
            isinstance(real, sa.Enum) and isinstance(column.type, sa.String)
        ), f"{view.name}.{column.name}: {column.type!r} vs {real!r}"


def test_the_words_the_views_compare_are_the_tables_words() -> None:
    from outreach.delivery.schema import DeliveryState
    from outreach.events.model import EventKind

    assert DeliveryState.SENT.value == ledger_view.SENT and EventKind.CLICKED.value == ledger_view.CLICKED
