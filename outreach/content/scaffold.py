"""``outreach new``: a starter issue with commented front matter and one of each block to copy."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from pathlib import Path

from outreach.errors import ContentError

_MONTHS = {
    m.lower(): i
    for i, m in enumerate(
        [
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ],
        start=1,
    )
}


def slugify(text: str) -> str:
    """ASCII, lowercase, hyphens: 'Holding the Holidays' -> 'holding-the-holidays'."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def issue_file_name(title: str, today: date) -> tuple[str, str, date]:
    """Split 'December 2026: Holding the Holidays' into (file name, subject, issue date)."""
    match = re.match(r"^\s*([A-Za-z]+)\s+(\d{4})\s*[:\-–—]\s*(.+)$", title)
    if match and match.group(1).lower() in _MONTHS:
        when = date(int(match.group(2)), _MONTHS[match.group(1).lower()], 1)
        subject = match.group(3).strip()
    else:
        when, subject = today, title.strip()
    slug = slugify(subject)
    if not slug:
        raise ContentError("the title needs at least one letter or digit")
    return f"{when:%Y-%m}-{slug}.md", subject, when


STARTER = """---
# The subject line: what readers see in their inbox (keep it under ~60 characters).
# You may greet readers by name: "{{{{ subscriber.first_name | default('Hello') }}}}, our winter news"
subject: "{subject}"
# The preheader: the grey line shown after the subject in most inboxes (40-110 characters).
preheader: "TODO: one sentence that makes people want to open this issue"
# The date printed under the title.
date: {date}
# newsletter (the monthly layout) or letter (a plain, personal-looking mail).
template: newsletter
# Who receives it: topics from lists/topics.yaml and/or segments from lists/segments.yaml.
audience:
  topics: [monthly-newsletter]
# When it goes out (time zone from outreach.toml unless you add one, e.g. 2026-12-01 09:00 -05:00).
# send_at: {date} 09:00
# language: en
# utm_campaign: {slug}
# draft while you write; ready when it may be scheduled.
status: draft
---
Hello {{{{ subscriber.first_name | default("there") }}}},

TODO: a warm opening paragraph.

## A section heading

TODO: the story. Links look like [this page](https://vaimh.example/resources).

::: callout Did you know?
TODO: one thing readers should not miss.
:::

::: button https://vaimh.example/membership
Become a member
:::

## Upcoming events

::: event
title: TODO event title
starts: {date} 10:00
where: Online (Zoom)
link: https://vaimh.example/events

TODO: one or two sentences about the event.
:::

::: image
src: https://vaimh.example/assets/photo.jpg
alt: TODO describe the picture for readers who cannot see it
caption: TODO optional caption
:::

With warm regards,\\
The VAIMH team
"""


def scaffold_issue(folder: Path, title: str, today: date) -> Path:
    """Write a starter issue into ``folder``; refuse to overwrite an existing one."""
    name, subject, when = issue_file_name(title, today)
    target = folder / name
    if target.exists():
        raise ContentError("this issue already exists; edit it or choose another title", str(target))
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(
        STARTER.format(subject=subject.replace('"', '\\"'), date=when.isoformat(), slug=Path(name).stem),
        encoding="utf-8",
    )
    return target
