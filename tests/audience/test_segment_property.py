"""Property: for random subscribers and random rules, SQL (SQLite and PostgreSQL) == plain Python."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from outreach.audience.addresses import email_hash
from outreach.audience.db import transaction
from outreach.audience.schema import (
    Subscriber,
    SubscriberStatus,
    SubscriberTag,
    SubscriberTopic,
    Suppression,
)
from outreach.audience.segment_sql import compile_rule
from outreach.audience.segments import (
    AllOf,
    AnyOf,
    FieldCondition,
    Not,
    RelativeDate,
    Rule,
    StatusCondition,
    TagCondition,
    TopicCondition,
)

from .conftest import TODAY
from .oracle import Person, evaluate

TOPICS = ["monthly-newsletter", "trainings-events", "policy-advocacy", "spanish-edition"]
TAGS = ["endorsed", "member", "board", "50%_off"]
ROLES = ["home visitor", "student", "Home Visitor", ""]
REGIONS = ["Hampton Roads", "Southside", "hampton", ""]
TEXTS = ["12", "7.5", "-3", "abc", "2026-03-20", "2025-12-31", "x%y", "a_b", "", "Día"]
KEYS = ["renewal_date", "years", "note"]
NOW = datetime(2026, 3, 1, tzinfo=UTC)

people = st.lists(
    st.fixed_dictionaries(
        {
            "status": st.sampled_from([s.value for s in SubscriberStatus if s.value != "erased"]),
            "role": st.sampled_from(ROLES),
            "region": st.sampled_from(REGIONS),
            "language": st.sampled_from(["en", "es"]),
            "signup_offset": st.integers(-400, 10),
            "attributes": st.dictionaries(st.sampled_from(KEYS), st.sampled_from(TEXTS), max_size=3),
            "tags": st.sets(st.sampled_from(TAGS), max_size=3),
            "topics": st.sets(st.sampled_from(TOPICS), max_size=3),
        }
    ),
    max_size=12,
)
dates = st.one_of(
    st.dates(date(2024, 1, 1), date(2027, 1, 1)),
    st.integers(-120, 120).map(RelativeDate),
)
texts = st.sampled_from(TEXTS + ROLES + REGIONS + ["%", "_", "Ham"])
text_ops = st.one_of(
    st.tuples(st.sampled_from(["equals", "not_equals", "contains", "starts_with"]), texts),
    st.tuples(st.sampled_from(["in", "not_in"]), st.lists(texts, min_size=1, max_size=3).map(tuple)),
    st.tuples(st.just("exists"), st.booleans()),
)
leaf = st.one_of(
    st.tuples(st.sampled_from(["role", "region", "language"]), text_ops).map(
        lambda t: FieldCondition(t[0], t[1][0], t[1][1])
    ),
    st.tuples(st.sampled_from([f"attributes.{k}" for k in KEYS]), text_ops).map(
        lambda t: FieldCondition(t[0], t[1][0], t[1][1])
    ),
    st.tuples(
        st.sampled_from([f"attributes.{k}" for k in KEYS]),
        st.sampled_from(["gt", "gte", "lt", "lte"]),
        st.floats(-10, 20, allow_nan=False).map(lambda f: round(f, 1)),
    ).map(lambda t: FieldCondition(*t)),
    st.tuples(
        st.sampled_from([f"attributes.{k}" for k in KEYS] + ["signup_date"]),
        st.sampled_from(["before", "after"]),
        dates,
    ).map(lambda t: FieldCondition(*t)),
    st.tuples(
        st.sampled_from([f"attributes.{k}" for k in KEYS] + ["signup_date"]), st.tuples(dates, dates)
    ).map(lambda t: FieldCondition(t[0], "between", t[1])),
    st.tuples(
        st.sampled_from(["has", "has_any", "has_all"]),
        st.lists(st.sampled_from(TAGS), min_size=1, max_size=3).map(tuple),
    ).map(lambda t: TagCondition(*t)),
    st.tuples(
        st.sampled_from(["has", "has_any", "has_all"]),
        st.lists(st.sampled_from(TOPICS), min_size=1, max_size=2).map(tuple),
    ).map(lambda t: TopicCondition(*t)),
    st.lists(st.sampled_from(list(SubscriberStatus)), min_size=1, max_size=2).map(
        lambda s: StatusCondition(tuple(s))
    ),
)
rules: st.SearchStrategy[Rule] = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=3).map(lambda r: AllOf(tuple(r))),
        st.lists(inner, min_size=1, max_size=3).map(lambda r: AnyOf(tuple(r))),
        inner.map(Not),
    ),
    max_leaves=6,
)


def _load(engine: Engine, population: list[dict[str, Any]]) -> list[Person]:
    with transaction(engine) as session:
        for table in (SubscriberTag, SubscriberTopic, Suppression, Subscriber):
            session.execute(sa.delete(table))
        persons = []
        for i, p in enumerate(population):
            email = f"p{i}@example.org"
            signup = TODAY + timedelta(days=p["signup_offset"])
            subscriber = Subscriber(
                email=email,
                email_hash=email_hash(email),
                first_name="",
                last_name="",
                organisation="",
                role=p["role"],
                region=p["region"],
                language=p["language"],
                status=SubscriberStatus(p["status"]),
                attributes=p["attributes"],
                signup_date=signup,
                created_at=NOW,
                updated_at=NOW,
            )
            subscriber.tags = [SubscriberTag(tag=t) for t in p["tags"]]
            subscriber.topics = [SubscriberTopic(topic_key=t) for t in p["topics"]]
            session.add(subscriber)
            persons.append(
                Person(
                    email,
                    p["status"],
                    {
                        "role": p["role"],
                        "region": p["region"],
                        "language": p["language"],
                        "signup_date": signup,
                    },
                    dict(p["attributes"]),
                    set(p["tags"]),
                    set(p["topics"]),
                )
            )
    return persons


def test_sql_agrees_with_python(synced: Engine) -> None:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(population=people, rule=rules)
    def check(population: list[dict[str, Any]], rule: Rule) -> None:
        persons = _load(synced, population)
        with transaction(synced) as session:
            found = set(session.scalars(sa.select(Subscriber.email).where(compile_rule(rule, TODAY))))
        expected = {p.email for p in persons if evaluate(rule, p, TODAY)}
        assert found == expected, rule

    check()
