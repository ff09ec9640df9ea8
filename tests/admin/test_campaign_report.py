"""A campaign's report: each figure against a ledger and events we wrote, the same figures over time,
the CSV, the report page's charts beside their numbers, and ``outreach report --html`` as one
self-contained file. Both databases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import lxml.html
import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient
from typer.testing import CliRunner

from outreach.accounts.schema import Role
from outreach.audience import transaction
from outreach.cli import app as cli_app
from outreach.clock import FixedClock
from outreach.events.figures import campaign_report, edition_column, editions
from outreach.operations.reports import campaign_full_report, figures_csv, timeline_csv
from outreach.operations.timeline import campaign_timeline
from tests.admin.campaign_fill import Filled, people, row, sent_campaign, topics
from tests.admin.conftest import USERS, sign_in
from tests.conftest import TEST_SECRET

START = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)  # 09:00 in New York, the site's zone
LINKS = {"https://vaimh.example/events/winter-training", "https://vaimh.example/resources"}


@pytest.fixture
def filled(engine: Engine, clock: FixedClock) -> Filled:
    with transaction(engine) as session:
        topics(session)
        return sent_campaign(session, clock, START)


def test_each_figure_counts_what_the_ledger_and_the_events_say(engine: Engine, filled: Filled) -> None:
    with transaction(engine) as session:
        report = campaign_report(session, filled.campaign_id)
    assert report.recipients == {
        "pending": 0,
        "sending": 0,
        "sent": 6,
        "failed": 2,
        "skipped": 1,
        "unknown": 1,
    }
    assert report.refused == 1 and report.sent == 7  # the refused one was handed over too
    assert report.events["delivered"] == 4  # one person reported delivered twice counts once
    assert report.events["bounced_hard"] == 2  # a hard-bounced person (3 reports) and the refused one
    assert report.events["bounced_soft"] == 1  # the person with a hard bounce is not soft as well
    assert report.bounced == 3
    assert report.events["complained"] == 1
    assert report.events["unsubscribed"] == 1  # two unsubscribes of one person
    assert report.events["clicked"] == 3  # clicks count events, with or without a person
    rates = report.rates()
    assert rates["bounced"] == pytest.approx(3 / 7) and rates["complained"] == pytest.approx(1 / 7)
    assert rates["unsubscribed"] == pytest.approx(1 / 7) and rates["clicked"] == pytest.approx(3 / 7)
    assert report.links == [
        ("https://vaimh.example/events/winter-training", 5),
        ("https://vaimh.example/resources", 2),
    ]


def test_the_figures_over_time_go_by_hour_for_two_days_then_by_day_and_add_up(
    engine: Engine, filled: Filled, admin_config: object
) -> None:
    zone = admin_config.time_zone  # type: ignore[attr-defined]
    with transaction(engine) as session:
        timeline = campaign_timeline(session, filled.campaign_id, zone)
        report = campaign_report(session, filled.campaign_id)
    assert len(timeline.labels) == 48 + 2
    assert timeline.labels[0] == "28 Nov 09:00" and timeline.labels[47] == "30 Nov 08:00"
    assert timeline.labels[48:] == ("30 Nov", "1 Dec")
    counts = timeline.counts
    assert counts["sent"][:3] == (3, 2, 2)  # 14:10, 14:20 (refused), 14:40; 15:10, 15:40; 16:10, 16:40
    assert counts["delivered"][1] == 4
    assert (counts["bounced"][0], counts["bounced"][1], counts["bounced"][5]) == (1, 1, 1)
    assert counts["complained"][5] == 1 and counts["unsubscribed"][6] == 1
    assert counts["clicked"][49] == 3  # three days later: 1 December
    assert sum(counts["sent"]) == report.sent
    assert sum(counts["delivered"]) == report.events["delivered"]
    assert sum(counts["bounced"]) == report.bounced
    assert sum(counts["complained"]) == report.events["complained"]
    assert sum(counts["unsubscribed"]) == report.events["unsubscribed"]
    assert sum(counts["clicked"]) == report.events["clicked"]
    assert timeline.starts[0] == "2026-11-28T09:00:00-05:00" and timeline.starts[49] == "2026-12-01"


def test_the_csv_downloads_hold_the_same_figures(engine: Engine, filled: Filled, client: TestClient) -> None:
    sign_in(client, USERS[Role.VIEWER])
    answer = client.get(f"/admin/campaigns/{filled.campaign_id}/report.csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0] == ["campaign", "edition", "figure", "count", "share of messages sent"]
    found = {r[2]: (int(r[3]), r[4]) for r in rows[1:]}
    assert found["sent"] == (7, "")
    assert found["bounced"] == (3, f"{3 / 7:.4f}")
    assert found["complained"] == (1, f"{1 / 7:.4f}")
    assert found["unsubscribed"] == (1, f"{1 / 7:.4f}")
    assert found["clicked"] == (3, f"{3 / 7:.4f}")
    assert found["delivered"][0] == 4 and found["unknown"] == (1, "")
    assert found["link: https://vaimh.example/events/winter-training"] == (5, "")
    over_time = list(
        csv.reader(
            io.StringIO(client.get(f"/admin/campaigns/{filled.campaign_id}/report-over-time.csv").text)
        )
    )
    assert over_time[0] == [
        "edition",
        "from",
        "period",
        "sent",
        "delivered",
        "bounced",
        "complained",
        "unsubscribed",
        "clicked",
    ]
    assert over_time[1][:4] == ["all", "2026-11-28T09:00:00-05:00", "hour", "3"]
    assert over_time[-1] == ["all", "2026-12-01", "day", "0", "0", "0", "0", "0", "3"]


def _numbers(text: str) -> int:
    return int(text.replace(",", "").strip())


def check_charts(page: lxml.html.HtmlElement) -> int:
    """Every chart has a title and a description, and the table beside it holds the same numbers."""
    figures = page.xpath("//figure[contains(@class, 'chart-figure')]")
    for figure in figures:
        svg = figure.xpath(".//svg")[0]
        title = svg.xpath("./title")[0].text_content()
        description = svg.xpath("./desc")[0].text_content()
        assert title and len(description) > 30
        labelled = svg.get("aria-labelledby").split()
        assert [svg.xpath(f".//*[@id='{i}']")[0].tag for i in labelled] == ["title", "desc"]
        assert svg.get("role") == "img"
        drawn = [
            [_numbers(c.text_content().split(": ")[1].split()[0]) for c in group.xpath("./circle")]
            for group in svg.xpath("./g")
        ]
        table = figure.xpath(".//table")[0]
        assert title in table.xpath("./caption")[0].text_content()
        rows = table.xpath("./tbody/tr")
        shown = [[_numbers(td.text_content()) for td in r.xpath("./td")] for r in rows]
        assert drawn == [list(column) for column in zip(*shown, strict=True)]
    return len(figures)


def test_the_report_page_shows_each_chart_with_its_numbers_beside_it(
    filled: Filled, client: TestClient
) -> None:
    sign_in(client, USERS[Role.VIEWER])
    answer = client.get(f"/admin/campaigns/{filled.campaign_id}/report")
    assert answer.status_code == 200
    page = lxml.html.fromstring(answer.text)
    assert check_charts(page) == 2
    text = page.text_content()
    assert "https://vaimh.example/events/winter-training" in text and "42.86%" in text  # 3 bounced of 7
    assert client.get("/admin/campaigns/999/report").status_code == 404


def test_outreach_report_html_writes_one_self_contained_file(
    project: Path, database_url: str, filled: Filled, tmp_path: Path
) -> None:
    out = tmp_path / "board.html"
    result = CliRunner().invoke(
        cli_app,
        ["report", str(filled.campaign_id), "--html", str(out), "--root", str(project)],
        env={"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_DATABASE_URL": database_url, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "wrote the report" in result.output
    page = lxml.html.fromstring(out.read_text(encoding="utf-8"))
    assert not page.xpath("//script | //link | //img | //iframe | //object | //embed")
    assert page.xpath("//style") and "http" not in page.xpath("//style")[0].text_content()
    for element in page.iter():
        for name in ("src", "href", "{http://www.w3.org/1999/xlink}href", "srcset", "action"):
            value = element.get(name)
            if value is not None and value.lower().startswith(("http:", "https:", "//")):
                assert value in LINKS, f"{element.tag} {name}={value}"
    assert check_charts(page) == 2
    assert "Report: December: holding the holidays" in page.xpath("//h1")[0].text_content()
    missing = CliRunner().invoke(
        cli_app,
        ["report", "999", "--html", str(out), "--root", str(project)],
        env={"OUTREACH_SECRET_KEY": TEST_SECRET, "OUTREACH_DATABASE_URL": database_url},
    )
    assert (
        missing.exit_code == 2 and "no campaign 999" in missing.output and "Traceback" not in missing.output
    )


def test_a_campaign_in_one_edition_reports_once(engine: Engine, filled: Filled, admin_config: object) -> None:
    with transaction(engine) as session:
        report = campaign_full_report(session, filled.campaign_id, admin_config.time_zone, START)  # type: ignore[attr-defined]
    assert report.editions == () and report.figures.edition == ""
    assert figures_csv(report).count("\r\n") == 1 + 11 + 2  # header, the figures, two links
    assert timeline_csv(report).count("\r\n") == 1 + 50


@pytest.mark.skipif(edition_column() is None, reason="the ledger records no language edition yet")
def test_a_campaign_in_two_editions_reports_each(engine: Engine, clock: FixedClock, filled: Filled) -> None:
    with transaction(engine) as session:
        spanish = people(session, clock, 2, language="es")
        for who in spanish:
            row(session, filled.campaign_id, who, "sent", START)  # type: ignore[arg-type]
        session.execute(
            edition_column()
            .table.update()  # type: ignore[union-attr]
            .where(edition_column().table.c.subscriber_id.in_(spanish))  # type: ignore[union-attr]
            .values(language="es")
        )
        session.execute(
            edition_column()
            .table.update()  # type: ignore[union-attr]
            .where(edition_column().table.c.subscriber_id.not_in(spanish))  # type: ignore[union-attr]
            .values(language="en")
        )
    with transaction(engine) as session:
        assert editions(session, filled.campaign_id) == ["en", "es"]
        assert campaign_report(session, filled.campaign_id, "es").sent == 2
        assert campaign_report(session, filled.campaign_id, "en").bounced == 3
