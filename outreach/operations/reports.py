"""A campaign's whole report, as the admin page, the CSV download and ``outreach report --html`` show it.

One call gathers everything (``campaign_report``): the figures of ``outreach.events.figures`` for the
campaign and for each language edition when it has several, the same figures over time, the most
followed links and the campaign's history. The front ends only lay it out, so the page, the CSV and
the file for the board can never disagree.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy.orm import Session

from outreach.audience.csv_write import csv_writer
from outreach.charts import Chart
from outreach.delivery.campaigns import get_campaign, history
from outreach.events import figures
from outreach.events.figures import CampaignReport
from outreach.operations.timeline import NAMES, Timeline, campaign_timeline

TOP_LINKS = 10


@dataclass(frozen=True)
class Figure:
    """One line of the report: what, how many, and (for what came back) its share of messages sent."""

    name: str
    count: int
    rate: float | None = None
    hint: str = ""

    @property
    def shown_rate(self) -> str:
        return "" if self.rate is None else f"{self.rate:.2%}"


def figure_lines(report: CampaignReport) -> list[Figure]:
    """The report's figures in the order people read them."""
    counts, events, rates = report.recipients, report.events, report.rates()
    sent = report.sent
    delivered = events["delivered"] / sent if sent else 0.0
    bounce_hint = f"{events['bounced_hard']:,} hard, {events['bounced_soft']:,} soft"
    if report.refused:
        bounce_hint += f"; {report.refused:,} refused while sending"
    return [
        Figure("Recipients", sum(counts.values())),
        Figure("Sent", sent, hint="accepted by the receiving server, or refused by it as bounced"),
        Figure("Delivered", events["delivered"], delivered, "the provider confirmed delivery"),
        Figure("Bounced", report.bounced, rates["bounced"], bounce_hint),
        Figure("Complained", events["complained"], rates["complained"], "marked it as spam"),
        Figure("Unsubscribed", events["unsubscribed"], rates["unsubscribed"]),
        Figure("Clicked", events["clicked"], rates["clicked"], "clicks the provider reported"),
        Figure("Failed", counts["failed"], hint="not sent: see the reasons on the campaign's page"),
        Figure("Skipped", counts["skipped"], hint="left out while sending: unsubscribed or suppressed"),
        Figure("Unknown", counts["unknown"], hint="handed over, answer lost: may or may not have arrived"),
        Figure("Still to send", counts["pending"] + counts["sending"]),
    ]


@dataclass(frozen=True)
class EditionReport:
    """The figures and timeline of one language edition (or of the whole campaign)."""

    figures: CampaignReport
    timeline: Timeline

    @property
    def lines(self) -> list[Figure]:
        return figure_lines(self.figures)

    def charts(self) -> tuple[Chart, Chart]:
        edition = self.figures.edition
        what = f" ({edition} edition)" if edition else ""
        return self.timeline.charts(f"c{self.figures.campaign_id}{edition}", what)


@dataclass(frozen=True)
class FullReport:
    """Everything the report shows."""

    whole: EditionReport
    editions: tuple[EditionReport, ...]  # empty unless the campaign went out in several editions
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    history: tuple[tuple[datetime, str, str], ...]
    made_at: datetime

    @property
    def figures(self) -> CampaignReport:
        return self.whole.figures

    @property
    def top_links(self) -> list[tuple[str, int]]:
        return self.figures.links[:TOP_LINKS]


def campaign_full_report(session: Session, campaign_id: int, zone: tzinfo, now: datetime) -> FullReport:
    """The report of one campaign; a ``DeliveryError`` naming the way to list them when there is none."""
    campaign = get_campaign(session, campaign_id)
    whole = EditionReport(
        figures.campaign_report(session, campaign_id), campaign_timeline(session, campaign_id, zone)
    )
    editions = tuple(
        EditionReport(
            figures.campaign_report(session, campaign_id, language),
            campaign_timeline(session, campaign_id, zone, language),
        )
        for language in figures.editions(session, campaign_id)
    )
    return FullReport(
        whole=whole,
        editions=editions,
        created_at=campaign.created_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
        history=tuple((e.at, e.kind, e.detail) for e in history(session, campaign_id)),
        made_at=now,
    )


def figures_csv(report: FullReport) -> str:
    """The figures (whole campaign, then each edition) and the most followed links, as CSV."""
    out = io.StringIO(newline="")
    writer = csv_writer(out)
    writer.writerow(["campaign", "edition", "figure", "count", "share of messages sent"])
    for part in (report.whole, *report.editions):
        edition = part.figures.edition or "all"
        for line in part.lines:
            rate = "" if line.rate is None else f"{line.rate:.4f}"
            writer.writerow([part.figures.campaign_id, edition, line.name.lower(), line.count, rate])
    for url, count in report.figures.links:
        writer.writerow([report.figures.campaign_id, "all", f"link: {url}", count, ""])
    return out.getvalue()


def timeline_csv(report: FullReport) -> str:
    """The figures over time as CSV: one row per hour (first two days), then per day."""
    out = io.StringIO(newline="")
    writer = csv_writer(out)
    writer.writerow(["edition", "from", "period", *NAMES])
    for part in (report.whole, *report.editions):
        edition = part.figures.edition or "all"
        for label, start, values in part.timeline.rows():
            period = "hour" if "T" in start else "day" if start else "later"
            writer.writerow([edition, start or label, period, *values])
    return out.getvalue()
