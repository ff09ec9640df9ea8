"""A campaign's report as one self-contained HTML file, to mail to the board or keep.

The same figures, charts, links and history as the report page, laid out by the same template
(``report_body.html.j2``), with the stylesheet inlined and the charts as inline SVG: no script, no
image, no font and no stylesheet to fetch, so the file opens the same anywhere, offline, years later.
``outreach report CAMPAIGN --html FILE`` writes it; the report page offers it as a download.
"""

from __future__ import annotations

from importlib import resources
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.clock import Clock
from outreach.config import Config
from outreach.operations.reports import FullReport, campaign_full_report


def report_css() -> str:
    return resources.files("outreach.admin").joinpath("static/report.css").read_text(encoding="utf-8")


def report_html(report: FullReport, config: Config) -> str:
    """The report as a complete HTML document."""
    from outreach.admin.app import environment  # the app's pages and filters; the app imports us

    page = environment().get_template("report_file.html.j2")
    return page.render(
        report=report, org=config.organisation, zone=config.time_zone, css=report_css(), root=""
    )


def write_report(config: Config, engine: Engine, campaign_id: int, clock: Clock) -> str:
    """The report of one campaign as a file's text (a ``DeliveryError`` when there is no such campaign)."""
    zone: ZoneInfo = config.time_zone
    with transaction(engine) as session:
        report = campaign_full_report(session, campaign_id, zone, clock.now())
    return report_html(report, config)
