"""``outreach report``: a campaign's ledger states, events and clicks, as figures per message sent."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from outreach.audience import transaction
from outreach.cli import app
from outreach.delivery.schema import DeliveryState
from outreach.delivery.tracking import count_click
from outreach.events import Event, EventKind, Trust, apply_events
from outreach.events.figures import campaign_report
from tests.events.fixtures import KEYS, Ledger, Sent
from tests.events.signing import NOW

REPO = Path(__file__).resolve().parents[2]


def _event(kind: EventKind, sent: Sent, event_id: str) -> Event:
    return Event(
        kind=kind,
        provider="test",
        provider_event_id=event_id,
        occurred_at=NOW,
        outreach_key=str(sent.delivery_id),
        recipient=sent.email,
    )


def _a_campaign_with_replies(ledger: Ledger) -> int:
    campaign = ledger.campaign()
    sent = [ledger.send(campaign, f"reader{n}@example.org") for n in range(8)]
    ledger.send(campaign, "waiting@example.org", state=DeliveryState.PENDING)
    ledger.send(campaign, "failed@example.org", state=DeliveryState.FAILED)
    with transaction(ledger.engine) as session:
        apply_events(
            session,
            [
                _event(EventKind.DELIVERED, sent[0], "d0"),
                _event(EventKind.DELIVERED, sent[1], "d1"),
                _event(EventKind.BOUNCED_HARD, sent[2], "b2"),
                _event(EventKind.BOUNCED_SOFT, sent[3], "s3"),
                _event(EventKind.COMPLAINED, sent[4], "c4"),
                _event(EventKind.UNSUBSCRIBED, sent[5], "u5"),
                _event(EventKind.UNSUBSCRIBED, sent[5], "u5"),  # a replay changes nothing
            ],
            ledger.clock,
            keys=KEYS,
            trust=Trust.PROVIDER,
        )
        for url in [
            "https://vaimh.example/events",
            "https://vaimh.example/join",
            "https://vaimh.example/events",
        ]:
            count_click(session, campaign, url, ledger.clock)
    return campaign


def test_the_report_counts_states_events_and_clicks(ledger: Ledger) -> None:
    campaign = _a_campaign_with_replies(ledger)
    with transaction(ledger.engine) as session:
        report = campaign_report(session, campaign)
    # the hard bounce failed its row after it had been sent
    assert report.recipients == {
        "pending": 1,
        "sending": 0,
        "sent": 7,
        "failed": 2,
        "skipped": 0,
        "unknown": 0,
    }
    assert report.events == {
        "delivered": 2,
        "bounced_hard": 1,
        "bounced_soft": 1,
        "complained": 1,
        "unsubscribed": 1,
        "clicked": 0,
    }
    assert report.rates() == {"bounced": 2 / 7, "complained": 1 / 7, "unsubscribed": 1 / 7, "clicked": 0.0}
    assert report.links == [("https://vaimh.example/events", 2), ("https://vaimh.example/join", 1)]


def test_outreach_report_prints_the_figures(ledger: Ledger, tmp_path: Path) -> None:
    campaign = _a_campaign_with_replies(ledger)
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "outreach.toml", project / "outreach.toml")
    env = {
        "OUTREACH_DATABASE_URL": ledger.engine.url.render_as_string(hide_password=False),
        "OUTREACH_SECRET_KEY": "report-test-secret-key-report-test-secret-key",
        "COLUMNS": "200",
        "NO_COLOR": "1",
    }
    runner = CliRunner()

    shown = runner.invoke(app, ["report", str(campaign), "--root", str(project)], env=env)
    assert shown.exit_code == 0, shown.output
    text = " ".join(shown.output.split())
    assert "sent 7 of 10 recipients: 2 failed, 0 skipped, 0 unknown, 1 still to send" in text
    assert "bounced 2 28.57% of sent (1 hard, 1 soft)" in text
    assert "complained 1 14.29% of sent" in text
    assert "2 https://vaimh.example/events 1 https://vaimh.example/join" in text

    as_json = runner.invoke(app, ["report", str(campaign), "--json", "--root", str(project)], env=env)
    assert as_json.exit_code == 0, as_json.output
    figures = json.loads(as_json.output)
    assert figures["recipients"]["sent"] == 7 and figures["events"]["unsubscribed"] == 1
    assert figures["links"][0] == {"url": "https://vaimh.example/events", "clicks": 2}

    missing = runner.invoke(app, ["report", "999", "--root", str(project)], env=env)
    # ``outreach.cli.main`` prints an OutreachError as one line and exits 2
    assert missing.exit_code == 2
    assert "error: no campaign 999; `outreach campaigns list` shows them" in missing.output
