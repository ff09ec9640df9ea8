"""Counting a segment and showing a few of its members, in one pass over the table.

``outreach segments count`` and the admin pages call this; one SELECT gives both how many match the
rule and how many of those may be mailed (active, not suppressed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.audience.schema import Subscriber
from outreach.audience.segment_sql import EngagementHook, compile_rule
from outreach.audience.segments import Rule
from outreach.audience.subscribers import mailable_clause


@dataclass(frozen=True)
class Member:
    """A sample row: enough to recognise who is in a segment."""

    email: str
    name: str
    role: str
    region: str


@dataclass(frozen=True)
class SegmentCount:
    matching: int
    mailable: int
    sample: tuple[Member, ...]


def count_segment(
    session: Session,
    rule: Rule | None,
    today: date,
    *,
    sample_size: int = 5,
    engagement: EngagementHook | None = None,
) -> SegmentCount:
    """How many match ``rule`` (None: everyone), how many may be mailed, and a sample."""
    del engagement  # engagement rules are compiled by compile_rule itself (see there)
    where = compile_rule(rule, today) if rule is not None else sa.true()
    mailable = mailable_clause()
    matching, reachable = session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((mailable, 1), else_=0)), 0),
        )
        .select_from(Subscriber)
        .where(where)
    ).one()
    rows = session.execute(
        sa.select(
            Subscriber.email,
            Subscriber.first_name,
            Subscriber.last_name,
            Subscriber.role,
            Subscriber.region,
        )
        .where(where, mailable)
        .order_by(Subscriber.id)
        .limit(sample_size)
    )
    sample = tuple(
        Member(email or "", f"{first} {last}".strip(), role, region)
        for email, first, last, role, region in rows
    )
    if rule is None:
        matching = reachable
    return SegmentCount(int(matching), int(reachable), sample)
