"""'Add to calendar' for event cards: an RFC 5545 ``.ics`` and a Google Calendar link.

An event's ``starts:`` and ``ends:`` are wall-clock times in the site's zone (``[organisation]
time_zone``), so the calendar carries them as such, with ``TZID`` and the zone's own VTIMEZONE: a
calendar shows 9:30 on the day whatever the daylight-saving rules do in between, and an event across
the November change lasts what the clock on the wall says. The UID comes from the event's id (not its
time or place), so a changed event replaces the entry readers kept instead of adding a second one;
``SEQUENCE``, ``LAST-MODIFIED`` and ``DTSTAMP`` come from the version the web service keeps
(``outreach.web.calendar``), which moves on when the event's content does (``content_digest``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlencode, urlsplit
from zoneinfo import ZoneInfo

from icalendar import Calendar, Timezone
from icalendar import Event as CalendarEvent

from outreach.models import Event

# A link's notes and place are cut to this many characters: the whole link has to fit in one line of
# the mail (998 octets), and the .ics carries the full text anyway.
DETAILS_LIMIT = 160
# Without ``ends:`` an entry lasts an hour (what Google Calendar does for a new event).
DEFAULT_LENGTH = timedelta(hours=1)
PRODID = "-//outreach//event calendar//EN"
GOOGLE = "https://calendar.google.com/calendar/render"


@dataclass(frozen=True)
class EventVersion:
    """Which version of an event a calendar file describes: RFC 5545's SEQUENCE and its moment."""

    sequence: int
    changed: datetime  # when this version was first seen (UTC)


@dataclass(frozen=True)
class CalendarLinks:
    """What an event card links: the ``.ics`` (Apple, Outlook, most apps) and Google Calendar."""

    ics: str
    google: str


def ends_of(event: Event) -> datetime:
    assert event.starts is not None
    return event.ends or event.starts + DEFAULT_LENGTH


def ics_url(base_url: str, issue_slug: str, event: Event) -> str:
    """Where the web service serves the event's calendar file."""
    return f"{base_url.rstrip('/')}/events/{issue_slug}/{event.key}.ics"


def uid(event: Event, base_url: str) -> str:
    """The event's UID: its id on the site's host, the same in every issue that describes it."""
    host = urlsplit(base_url).hostname or "outreach.invalid"
    return f"{event.key}@{host}"


def description(event: Event) -> str:
    """The entry's notes: what the card says beyond title, time and place, and its link."""
    parts = [event.text.strip()] if event.text.strip() else []
    if event.url:
        parts.append(f"{event.link_label}: {event.url}")
    return "\n\n".join(parts)


def content_digest(event: Event, zone: ZoneInfo) -> str:
    """A fingerprint of everything the calendar entry shows: a new one means a new SEQUENCE."""
    fields = (
        event.title,
        f"{event.starts:%Y-%m-%dT%H:%M}",
        f"{ends_of(event):%Y-%m-%dT%H:%M}",
        zone.key,
        event.where,
        event.url,
        description(event),
    )
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()


def google_link(event: Event, zone: ZoneInfo) -> str:
    """A Google Calendar 'new event' link with the times as wall-clock times in the site's zone."""
    assert event.starts is not None
    dates = f"{event.starts:%Y%m%dT%H%M%S}/{ends_of(event):%Y%m%dT%H%M%S}"
    query = {"action": "TEMPLATE", "text": event.title, "dates": dates, "ctz": zone.key}
    details = _shortened(description(event), DETAILS_LIMIT)
    if details:
        query["details"] = details
    if event.where:
        query["location"] = _shortened(event.where, DETAILS_LIMIT)
    return f"{GOOGLE}?{urlencode(query, safe='/')}"


def _shortened(text: str, limit: int) -> str:
    """On one line and at most ``limit`` characters, cut at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "\u2026"


def calendar_links(base_url: str, issue_slug: str, zone: ZoneInfo, event: Event) -> CalendarLinks | None:
    """The card's links, or None for an event without ``starts:`` (nothing a calendar can hold)."""
    if event.starts is None:
        return None
    return CalendarLinks(ics_url(base_url, issue_slug, event), google_link(event, zone))


def calendar_file(event: Event, zone: ZoneInfo, base_url: str, version: EventVersion) -> bytes:
    """The event as an RFC 5545 calendar (one VEVENT and the VTIMEZONE its times use)."""
    assert event.starts is not None
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    years = (event.starts.year, ends_of(event).year)
    calendar.add_component(
        Timezone.from_tzinfo(zone, zone.key, date(min(years) - 1, 1, 1), date(max(years) + 1, 12, 31))
    )
    entry = CalendarEvent()
    entry.add("uid", uid(event, base_url))
    entry.add("sequence", version.sequence)
    changed = version.changed.astimezone(UTC)
    entry.add("dtstamp", changed)
    entry.add("last-modified", changed)
    entry.add("summary", event.title)
    entry.add("dtstart", event.starts.replace(tzinfo=zone))
    entry.add("dtend", ends_of(event).replace(tzinfo=zone))
    if event.where:
        entry.add("location", event.where)
    if description(event):
        entry.add("description", description(event))
    if event.url:
        entry.add("url", event.url)
    calendar.add_component(entry)
    return bytes(calendar.to_ical())
