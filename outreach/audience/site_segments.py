"""The site's segments as every send loads them: one place, so no sending path checks less.

``lists/segments.yaml`` is checked against the topics in the database and the site's roles and
languages ([audience] in outreach.toml), as ``outreach check`` checks it: a segment edited after an
issue was checked, to name a role the site lacks, stops the send at its line with the valid choices
instead of matching nobody.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from outreach.audience.choices import profile_choices
from outreach.audience.segments import SEGMENTS_FILE, Segment, load_segments
from outreach.audience.subscribers import known_topics
from outreach.config import Config


def sending_segments(session: Session, config: Config) -> dict[str, Segment]:
    """Every segment of the site, checked; ``SegmentError`` names the file and line of a bad one."""
    return load_segments(
        config.path("lists") / SEGMENTS_FILE,
        known_topics(session),
        f"lists/{SEGMENTS_FILE}",
        profile_choices(config.settings.audience),
    )
