"""'Add to calendar': the .ics the web service serves for an event card, read back with icalendar.

The file is parsed by a real RFC 5545 parser; its times carry TZID America/New_York (one event runs
across the November daylight-saving change), its UID stays the same across renders and edits, and its
SEQUENCE and LAST-MODIFIED move on only when the event itself changes. The same links are in the
mail's HTML and text part, and in the event reminder automation's mail.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
from starlette.testclient import TestClient

from outreach.clock import FixedClock
from outreach.config import Config
from outreach.content import read_issue
from outreach.models import Event, RecipientLinks
from outreach.render import render_issue
from outreach.render.calendar import EventVersion, calendar_file
from outreach.render.sample import SAMPLE_RECIPIENT

REPO = Path(__file__).resolve().parents[2]
ZONE = ZoneInfo("America/New_York")
SLUG = "2026-10-late-talk"
LINKS = RecipientLinks(
    "https://news.vaimh.example/u/x", "https://news.vaimh.example/p/x", "https://v.example/v"
)

EVENT = """
::: event
title: A Late Talk on Sleep
starts: 2026-10-31 22:00
ends: 2026-11-01 03:00
where: Richmond Public Library
link: https://vaimh.example/events/late-talk
link_label: Reserve a seat

For parents of babies who wake at night.
:::
"""


@pytest.fixture
def issue_file(write_issue: Callable[..., Path]) -> Path:
    return write_issue("Hello.\n" + EVENT, name=f"{SLUG}.md", status="ready", date="2026-10-01")


def fetch(client: TestClient, path: str) -> icalendar.Calendar:
    answer = client.get(path)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "text/calendar; charset=utf-8"
    return icalendar.Calendar.from_ical(answer.content)


def only_event(calendar: icalendar.Calendar) -> icalendar.Event:
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    return events[0]


def test_the_ics_parses_with_the_zone_and_keeps_wall_clock_times_across_the_dst_change(
    client: TestClient, issue_file: Path
) -> None:
    calendar = fetch(client, f"/events/{SLUG}/a-late-talk-on-sleep-2026.ics")
    assert str(calendar["version"]) == "2.0" and calendar["prodid"]
    zones = calendar.walk("VTIMEZONE")
    assert [str(z["tzid"]) for z in zones] == ["America/New_York"]
    assert {c.name for c in zones[0].subcomponents} == {"STANDARD", "DAYLIGHT"}
    event = only_event(calendar)
    assert event["dtstart"].params["TZID"] == "America/New_York"
    assert event["dtend"].params["TZID"] == "America/New_York"
    starts, ends = event.decoded("dtstart"), event.decoded("dtend")
    assert (starts.replace(tzinfo=None), ends.replace(tzinfo=None)) == (
        datetime(2026, 10, 31, 22, 0),
        datetime(2026, 11, 1, 3, 0),
    )
    # 22:00 EDT (UTC-4) to 03:00 EST (UTC-5): six real hours, not five.
    assert starts.astimezone(UTC) == datetime(2026, 11, 1, 2, 0, tzinfo=UTC)
    assert ends.astimezone(UTC) == datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    assert ends.astimezone(UTC) - starts.astimezone(UTC) == timedelta(hours=6)
    assert str(event["summary"]) == "A Late Talk on Sleep"
    assert str(event["location"]) == "Richmond Public Library"
    assert "wake at night" in str(event["description"])
    assert str(event["url"]) == "https://vaimh.example/events/late-talk"
    assert str(event["uid"]) == "a-late-talk-on-sleep-2026@news.vaimh.example"


def test_a_summer_event_is_in_daylight_time(write_issue: Callable[..., Path], client: TestClient) -> None:
    body = EVENT.replace("2026-10-31 22:00", "2026-07-01 09:00").replace("2026-11-01 03:00", "10:00")
    write_issue("Hello.\n" + body, name=f"{SLUG}.md", status="ready", date="2026-06-01")
    summer = only_event(fetch(client, f"/events/{SLUG}/a-late-talk-on-sleep-2026.ics"))
    assert summer.decoded("dtstart").astimezone(UTC) == datetime(2026, 7, 1, 13, 0, tzinfo=UTC)  # EDT
    assert summer.decoded("dtend").replace(tzinfo=None) == datetime(2026, 7, 1, 10, 0)


def test_uid_is_stable_and_sequence_moves_only_when_the_event_changes(
    client: TestClient, issue_file: Path, clock: FixedClock
) -> None:
    path = f"/events/{SLUG}/a-late-talk-on-sleep-2026.ics"
    first = only_event(fetch(client, path))
    clock.advance(3600)
    again = only_event(fetch(client, path))
    assert str(again["uid"]) == str(first["uid"])
    assert int(again["sequence"]) == int(first["sequence"]) == 0
    assert again.decoded("last-modified") == first.decoded("last-modified")
    assert again.decoded("dtstamp") == first.decoded("dtstamp")

    clock.advance(3600)
    moved = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
    issue_file.write_text(
        issue_file.read_text(encoding="utf-8").replace(
            "starts: 2026-10-31 22:00", "starts: 2026-10-31 21:00"
        ),
        encoding="utf-8",
    )
    changed = only_event(fetch(client, path))
    assert str(changed["uid"]) == str(first["uid"])  # the same entry, updated
    assert int(changed["sequence"]) == 1
    assert changed.decoded("last-modified") == moved
    assert changed.decoded("dtstamp") == moved
    assert changed.decoded("dtstart").replace(tzinfo=None) == datetime(2026, 10, 31, 21, 0)
    clock.advance(60)
    assert int(only_event(fetch(client, path))["sequence"]) == 1


def test_unknown_draft_and_odd_addresses_are_not_found(
    client: TestClient, write_issue: Callable[..., Path]
) -> None:
    write_issue("Hello.\n" + EVENT, name="2026-10-draft.md", status="draft", date="2026-10-01")
    write_issue("Hello.\n" + EVENT, name=f"{SLUG}.md", status="ready", date="2026-10-01")
    for path in (
        f"/events/{SLUG}/no-such-event.ics",
        "/events/2026-10-draft/a-late-talk-on-sleep-2026.ics",
        "/events/no-such-issue/a-late-talk-on-sleep-2026.ics",
        "/events/UPPER/a-late-talk-on-sleep-2026.ics",
    ):
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert "No such event" in answer.text
    assert client.get("/events/..%2Foutreach/a-late-talk-on-sleep-2026.ics").status_code == 404


def test_the_mail_links_the_ics_and_google_calendar_in_both_parts(config: Config, issue_file: Path) -> None:
    compiled = render_issue(read_issue(issue_file, config.time_zone), config)
    mail = compiled.personalise(SAMPLE_RECIPIENT, LINKS)
    ics = f"https://news.vaimh.example/events/{SLUG}/a-late-talk-on-sleep-2026.ics"
    assert f'href="{ics}"' in mail.html
    assert f"Add to calendar (.ics): {ics}" in mail.text
    google = next(
        line.removeprefix("Google Calendar: ") for line in mail.text.splitlines() if line.startswith("Google")
    )
    parts = urlsplit(google)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "calendar.google.com", "/calendar/render")
    query = parse_qs(parts.query)
    assert query["action"] == ["TEMPLATE"]
    assert query["text"] == ["A Late Talk on Sleep"]
    assert query["dates"] == ["20261031T220000/20261101T030000"]
    assert query["ctz"] == ["America/New_York"]
    assert query["location"] == ["Richmond Public Library"]
    assert "wake at night" in query["details"][0]
    assert google.replace("&", "&amp;") in mail.html


def test_an_event_without_starts_has_no_calendar_links(
    config: Config, write_issue: Callable[..., Path]
) -> None:
    path = write_issue("::: event\ntitle: Someday\nwhen: Sometime in spring\n:::\n", status="ready")
    mail = render_issue(read_issue(path, config.time_zone), config).personalise(SAMPLE_RECIPIENT, LINKS)
    assert "Add to calendar" not in mail.text and "calendar.google.com" not in mail.html


def test_the_event_reminder_automation_links_the_same_event(
    config: Config, project: Path, client: TestClient
) -> None:
    shutil.copytree(REPO / "newsletters" / "automations", project / "newsletters" / "automations")
    reminder = project / "newsletters" / "automations" / "event-reminder.md"
    compiled = render_issue(read_issue(reminder, config.time_zone), config)
    mail = compiled.personalise(SAMPLE_RECIPIENT, LINKS)
    ics = "https://news.vaimh.example/events/event-reminder/spring-gathering-2027.ics"
    assert f'href="{ics}"' in mail.html and ics in mail.text
    assert "calendar.google.com/calendar/render?action=TEMPLATE" in mail.text
    event = only_event(fetch(client, "/events/event-reminder/spring-gathering-2027.ics"))
    assert str(event["uid"]) == "spring-gathering-2027@news.vaimh.example"
    assert event.decoded("dtstart").replace(tzinfo=None) == datetime(2027, 3, 12, 9, 0)


def test_the_file_is_the_same_for_the_same_event_and_version() -> None:
    event = Event(title="T", when="w", line=1, starts=datetime(2027, 1, 2, 9, 0), key="t-2027")
    version = EventVersion(2, datetime(2026, 12, 1, tzinfo=UTC))
    first = calendar_file(event, ZONE, "https://news.vaimh.example", version)
    assert first == calendar_file(event, ZONE, "https://news.vaimh.example", version)
    parsed = only_event(icalendar.Calendar.from_ical(first))
    assert int(parsed["sequence"]) == 2
    assert parsed.decoded("dtend").replace(tzinfo=None) == datetime(2027, 1, 2, 10, 0)  # an hour by default
