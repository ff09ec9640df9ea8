"""Property: a ``::: only`` / ``::: unless`` section reaches exactly the readers its segment rule selects.

Random subscribers (role, language, region, topics) and random conditions; the issue is compiled once,
sent through the real campaign runner (ledger claims, the recipient context, the MIME frame), and the
readers whose HTML and text parts hold the section are compared with the subscribers that
``segment_sql`` selects for the condition's rule. On SQLite, and on PostgreSQL when asked.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from outreach.audience import Consent, ConsentMethod, Profile, add_subscriber, transaction
from outreach.audience.schema import Subscriber
from outreach.audience.segment_sql import compile_rule
from outreach.audience.segments import section_rule
from outreach.config import load_config
from outreach.content.issue import read_issue_text
from outreach.models import Section
from outreach.render import render_issue
from tests.delivery.conftest import SECRET, START, TOPIC, Bench, TimedMemory, copy_project

ROLES = ["home-visitor", "mental-health-clinician", "early-educator", ""]
LANGUAGES = ["en", "es"]
REGIONS = ["Hampton Roads", "Southside", ""]
OTHER_TOPICS = ["trainings-events", "policy-advocacy", "spanish-edition"]
MARK = "ONLYFORSOMEREADERS"

people = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(ROLES),
            "language": st.sampled_from(LANGUAGES),
            "region": st.sampled_from(REGIONS),
            "topics": st.sets(st.sampled_from(OTHER_TOPICS), max_size=2),
        }
    ),
    min_size=1,
    max_size=6,
)
values = {
    "role": [r for r in ROLES if r],
    "language": LANGUAGES,
    "region": [r for r in REGIONS if r],
    "topic": [*OTHER_TOPICS, TOPIC],
}
terms = st.dictionaries(
    st.sampled_from(sorted(values)),
    st.none(),
    min_size=1,
    max_size=3,
).flatmap(
    lambda fields: st.tuples(
        *(st.lists(st.sampled_from(values[f]), min_size=1, max_size=2, unique=True) for f in fields)
    ).map(lambda chosen: list(zip(fields, chosen, strict=True)))
)


def condition_text(chosen: list[tuple[str, list[str]]]) -> str:
    return " ".join(f'{field}="{",".join(vals)}"' for field, vals in chosen)


def test_sections_reach_exactly_the_readers_the_segment_rule_selects(bench: Bench, tmp_path: Path) -> None:
    project = copy_project(tmp_path / "project")
    config = load_config(project, environ={"OUTREACH_SECRET_KEY": SECRET})
    numbers = itertools.count()

    @settings(
        max_examples=25,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(population=people, chosen=terms, kind=st.sampled_from(["only", "unless"]))
    def check(population: list[dict[str, Any]], chosen: list[tuple[str, list[str]]], kind: str) -> None:
        number = next(numbers)
        with transaction(bench.engine) as session:
            for index, person in enumerate(population):
                add_subscriber(
                    session,
                    f"p{number}-{index}@example.org",
                    consent=Consent(ConsentMethod.ADMIN, source="test"),
                    clock=bench.clock,
                    topics=(TOPIC, *sorted(person["topics"])),
                    profile=Profile(
                        first_name="Ana",
                        role=person["role"],
                        language=person["language"],
                        region=person["region"],
                    ),
                )
        source = (
            '---\nsubject: "Sections"\ndate: 2026-12-01\n'
            f"audience:\n  topics: [{TOPIC}]\nstatus: ready\n---\n"
            "Hello {{ subscriber.first_name }},\n\n"
            f"::: {kind} {condition_text(chosen)}\n"
            f"{MARK} for you, {{{{ subscriber.first_name }}}}.\n\n"
            "::: button https://vaimh.example/endorsement\nRead more\n:::\n:::\n\n"
            "After the section.\n"
        )
        issue = read_issue_text(source, project / "newsletters" / f"2026-12-sections-{number}.md")
        compiled = render_issue(issue, config)
        campaign = bench.campaign(compiled=compiled)
        transport = TimedMemory(bench.clock)
        bench.run(campaign, transport)
        got_html = {m.recipient for m in transport.attempts if MARK in m.html}
        got_text = {m.recipient for m in transport.attempts if MARK in m.text}
        got_raw = {m.recipient for m in transport.attempts if MARK.encode() in m.raw}
        sent = {m.recipient for m in transport.attempts}
        assert all(b"After the section." in m.raw for m in transport.attempts)

        section = next(b for b in issue.blocks if isinstance(b, Section))
        rule = section_rule(section.condition)
        with transaction(bench.engine) as session:
            selected = set(
                session.scalars(sa.select(Subscriber.email).where(compile_rule(rule, START.date())))
            )
        expected = sent & selected
        assert got_html == expected, (kind, chosen)
        assert got_text == expected, (kind, chosen)
        assert got_raw == expected, (kind, chosen)

    check()
