"""A campaign's figures over time: per hour for its first two days, then per day in the site's zone.

Each series adds up to the report's figure of the same name: messages sent (accepted, or refused as
bounced while sending) at the time the ledger recorded them; people who were delivered to, bounced,
complained or unsubscribed at their first such event; clicks (provider events) as they came. Counting
happens in the database, by the hour (``hours.hour_number``); days are made from hours here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from outreach.charts import Chart, Series
from outreach.delivery.campaigns import get_campaign
from outreach.delivery.schema import Delivery, DeliveryState
from outreach.events.figures import events_of_edition, in_edition, refused_rows
from outreach.events.model import EventKind
from outreach.events.schema import EventRecord
from outreach.operations.hours import hour_number, hour_of, start_of

HOURLY = 48
# Reports arrive for days and weeks after a send; beyond this, a stray date is counted as "later".
MAX_DAYS = 180
_Rows = sa.Select[*tuple[Any, ...]]
NAMES = ("sent", "delivered", "bounced", "complained", "unsubscribed", "clicked")


@dataclass(frozen=True)
class Timeline:
    """Labels (hours, then days) and, for each of ``NAMES``, one count per label."""

    labels: tuple[str, ...]
    counts: dict[str, tuple[int, ...]]
    starts: tuple[str, ...] = ()  # each label's start as ISO 8601 in the site's zone ('' for "later")

    def rows(self) -> list[tuple[str, str, tuple[int, ...]]]:
        """(label, start, counts in the order of ``NAMES``) per label."""
        return [
            (label, self.starts[i], tuple(self.counts[n][i] for n in NAMES))
            for i, label in enumerate(self.labels)
        ]

    def charts(self, key: str, what: str) -> tuple[Chart, Chart]:
        """Two charts, as the numbers differ a thousandfold: mail going out, and what came back."""
        out = Chart(
            key=f"{key}-sent",
            title=f"Sent and delivered over time{what}",
            description="Messages sent, and people whose provider confirmed delivery, per hour for the "
            "first two days, then per day.",
            labels=self.labels,
            series=(Series("Sent", self.counts["sent"]), Series("Delivered", self.counts["delivered"])),
        )
        back = Chart(
            key=f"{key}-back",
            title=f"Bounces, complaints, unsubscribes and clicks over time{what}",
            description="People who bounced, complained or unsubscribed (each at their first report), and "
            "clicks, per hour for the first two days, then per day.",
            labels=self.labels,
            series=tuple(
                Series(name.capitalize(), self.counts[name])
                for name in ("bounced", "complained", "unsubscribed", "clicked")
            ),
        )
        return out, back


def _grouped(session: Session, source: _Rows) -> Counter[int]:
    """Rows of a one-column query of times, counted per hour number."""
    column = source.subquery().c[0]
    hour = hour_number(column)
    rows = session.execute(sa.select(hour, sa.func.count()).where(column.is_not(None)).group_by(hour))
    return Counter({int(h): int(n) for h, n in rows if h is not None})


def _first_times(campaign_id: int, kinds: tuple[EventKind, ...], edition: str | None) -> _Rows:
    return sa.select(EventRecord.subscriber_id.label("who"), EventRecord.occurred_at.label("at")).where(
        EventRecord.campaign_id == campaign_id,
        EventRecord.kind.in_(kinds),
        EventRecord.subscriber_id.is_not(None),
        *events_of_edition(campaign_id, edition),
    )


def _people_hours(session: Session, times: _Rows | sa.CompoundSelect[*tuple[Any, ...]]) -> Counter[int]:
    """Each person once, at the first of their times."""
    sub = times.subquery()
    return _grouped(session, sa.select(sa.func.min(sub.c.at)).group_by(sub.c.who))


def hourly_counts(session: Session, campaign_id: int, edition: str | None = None) -> dict[str, Counter[int]]:
    """For each of ``NAMES``: count per hour number."""
    sent = sa.select(Delivery.updated_at).where(
        Delivery.campaign_id == campaign_id, Delivery.state == DeliveryState.SENT, *in_edition(edition)
    )
    refused = sa.select(Delivery.updated_at).where(*refused_rows(campaign_id, edition))
    bounced: sa.CompoundSelect[*tuple[Any, ...]] = sa.union_all(
        _first_times(campaign_id, (EventKind.BOUNCED_HARD, EventKind.BOUNCED_SOFT), edition),
        sa.select(Delivery.subscriber_id.label("who"), Delivery.updated_at.label("at")).where(
            *refused_rows(campaign_id, edition)
        ),
    )
    clicks = sa.select(EventRecord.occurred_at).where(
        EventRecord.campaign_id == campaign_id,
        EventRecord.kind == EventKind.CLICKED,
        *events_of_edition(campaign_id, edition),
    )
    return {
        "sent": _grouped(session, sent) + _grouped(session, refused),
        "delivered": _people_hours(session, _first_times(campaign_id, (EventKind.DELIVERED,), edition)),
        "bounced": _people_hours(session, bounced),
        "complained": _people_hours(session, _first_times(campaign_id, (EventKind.COMPLAINED,), edition)),
        "unsubscribed": _people_hours(session, _first_times(campaign_id, (EventKind.UNSUBSCRIBED,), edition)),
        "clicked": _grouped(session, clicks),
    }


def _hour_label(hour: int, zone: tzinfo) -> str:
    local = start_of(hour).astimezone(zone)
    return f"{local.day} {local:%b %H:%M}"


def _day_label(day: date) -> str:
    return f"{day.day} {day:%b}"


@dataclass
class Buckets:
    labels: list[str]
    starts: list[str]
    index: dict[int, int]


def buckets(first: int, hours: Collection[int], zone: tzinfo) -> Buckets:
    """Labels from hour ``first`` to the last of ``hours``, and the label index of each of ``hours``:
    one label per hour for ``HOURLY`` hours, then one per day in ``zone`` (at most ``MAX_DAYS``, and
    a "later" for anything after)."""
    last = max(hours)
    own = range(first, min(last, first + HOURLY - 1) + 1)
    labels = [_hour_label(h, zone) for h in own]
    starts = [start_of(h).astimezone(zone).isoformat() for h in own]
    days: dict[date, int] = {}
    later = -1
    if last >= first + HOURLY:
        day_one = start_of(first + HOURLY).astimezone(zone).date()
        span = (start_of(last).astimezone(zone).date() - day_one).days
        for offset in range(min(span, MAX_DAYS - 1) + 1):
            day = day_one + timedelta(days=offset)
            days[day] = len(labels)
            labels.append(_day_label(day))
            starts.append(day.isoformat())
        if span >= MAX_DAYS:
            later = len(labels)
            labels.append("later")
            starts.append("")
    index = {}
    for hour in hours:
        if hour < first + HOURLY:
            index[hour] = hour - first
        else:
            index[hour] = days.get(start_of(hour).astimezone(zone).date(), later)
    return Buckets(labels, starts, index)


def campaign_timeline(
    session: Session, campaign_id: int, zone: tzinfo, edition: str | None = None
) -> Timeline:
    """The campaign's (or one edition's) figures over time, from its start to its last event."""
    campaign = get_campaign(session, campaign_id)
    counts = hourly_counts(session, campaign_id, edition)
    hours = [h for found in counts.values() for h in found]
    if not hours:
        return Timeline((), {name: () for name in NAMES})
    began: datetime = campaign.started_at or campaign.created_at
    first = min(min(hours), hour_of(began))
    made = buckets(first, hours, zone)
    series: dict[str, tuple[int, ...]] = {}
    for name in NAMES:
        values = [0] * len(made.labels)
        for hour, count in counts[name].items():
            values[made.index[hour]] += count
        series[name] = tuple(values)
    return Timeline(tuple(made.labels), series, tuple(made.starts))
