"""Roles and languages come from one place ([audience] in outreach.toml): config, imports, segments,
``lists add`` and ``db upgrade`` all read the same lists."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from outreach.audience.choices import profile_choices, respell_stored
from outreach.audience.db import transaction
from outreach.audience.schema import Subscriber
from outreach.audience.segments import load_segments
from outreach.audience.subscribers import find_by_email
from outreach.audience.topics import TopicDefinition
from outreach.clock import FixedClock
from outreach.config import AudienceSettings, Choice, parse_settings
from outreach.errors import ConfigError, SegmentError

from .helpers import run_import, write

Topics = tuple[TopicDefinition, ...]
BASE = {
    "organisation": {"name": "O", "short_name": "O", "website": "https://o.example", "postal_address": "P"},
    "sender": {
        "from_name": "O",
        "from_address": "o@o.example",
        "list_id": "O <o.example>",
        "message_id_domain": "o",
    },
}


def test_the_lists_are_read_from_the_configuration() -> None:
    settings = parse_settings(
        {
            **BASE,
            "audience": {
                "roles": [{"key": "doula", "label": "Doula", "aliases": ["birth worker"]}],
                "languages": [{"key": "es", "label": "Español"}, {"key": "en", "label": "English"}],
            },
        }
    )
    choices = profile_choices(settings.audience)
    assert choices.roles.keys == ("doula",)
    assert choices.roles.resolve("Birth Worker") == "doula"
    assert choices.default_language == "es"


@pytest.mark.parametrize(
    ("audience", "message"),
    [
        ({"roles": [{"key": "Home Visitor", "label": "x"}]}, "[audience.roles]"),
        ({"roles": [{"key": "a", "label": "A"}, {"key": "a", "label": "B"}]}, "listed twice"),
        ({"languages": []}, "needs at least one entry"),
        ({"roles": [{"key": "a", "label": "A", "colour": "red"}]}, "is not a setting"),
    ],
)
def test_a_wrong_list_is_refused_by_its_key(audience: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_settings({**BASE, "audience": audience})


def test_a_spelling_that_would_mean_two_roles_is_refused() -> None:
    settings = AudienceSettings(
        roles=(Choice(key="nurse", label="Nurse"), Choice(key="midwife", label="Midwife", aliases=("nurse",)))
    )
    with pytest.raises(
        ConfigError, match=r"\[audience.roles\] 'nurse' would mean both 'nurse' and 'midwife'"
    ):
        profile_choices(settings)


def test_keys_labels_aliases_and_old_spellings_all_mean_the_key() -> None:
    roles = profile_choices().roles
    for spelling in ("parent-or-caregiver", "Parent or caregiver", "PARENT OR CAREGIVER", "caregiver"):
        assert roles.resolve(spelling) == "parent-or-caregiver"
    assert roles.resolve("pediatric clinician") == "pediatric-clinician"  # the words imports used to store
    assert roles.resolve("Clinician or therapist") == "mental-health-clinician"  # the old sign-up label
    languages = profile_choices().languages
    assert [languages.resolve(s) for s in ("Spanish", "espanol", "ES-419", "Inglés", "en")] == [
        "es",
        "es",
        "es",
        "en",
        "en",
    ]
    assert roles.resolve("astronaut") is None


def test_imports_store_keys_and_reject_roles_outside_the_list(
    synced: Engine, topics: Topics, clock: FixedClock, tmp_path: Path
) -> None:
    path = write(
        tmp_path / "in.csv",
        "Email,Role,Language\n"
        "a@example.org,Pediatric clinician,Spanish\n"
        "b@example.org,Home Visitor,English\n"
        "c@example.org,Astronaut,English\n"
        "d@example.org,student,Klingon\n",
    )
    rejects = tmp_path / "rejects.csv"
    report = run_import(synced, path, topics, clock, consent="sheet", rejects_path=rejects)
    assert (report.new, report.rejected) == (2, 2)
    with transaction(synced) as session:
        a, b = find_by_email(session, "a@example.org"), find_by_email(session, "b@example.org")
        assert a is not None and (a.role, a.language) == ("pediatric-clinician", "es")
        assert b is not None and (b.role, b.language) == ("home-visitor", "en")
    text = rejects.read_text(encoding="utf-8")
    assert (
        "unknown role 'Astronaut'; valid: parent-or-caregiver, home-visitor, early-educator (Early child"
        in text
    )
    assert "unknown language 'Klingon'; valid: en (English), es (Español)" in text


def test_segments_name_keys_and_a_label_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path / "segments.yaml",
        "clinicians:\n  rule:\n    all:\n"
        "      - region: Tidewater\n"
        "      - role: {in: [student, pediatric clinician]}\n",
    )
    with pytest.raises(SegmentError) as caught:
        load_segments(path, None, "lists/segments.yaml", profile_choices())
    assert str(caught.value) == (
        "lists/segments.yaml:5: 'pediatric clinician' is not a role key; write its key 'pediatric-clinician' "
        "in segment 'clinicians'"
    )
    write(path, "spanish:\n  rule:\n    language: fr\n")
    with pytest.raises(
        SegmentError, match=r"lists/segments.yaml:3: 'fr' is not a language key; valid: en \(English\)"
    ):
        load_segments(path, None, "lists/segments.yaml", profile_choices())
    write(path, "x:\n  rule:\n    role: {contains: clinician}\n")
    assert load_segments(path, None, "lists/segments.yaml", profile_choices())  # partial matches stay free


def test_the_shipped_segments_name_only_keys() -> None:
    lists = Path(__file__).resolve().parents[2] / "lists"
    assert load_segments(lists / "segments.yaml", None, None, profile_choices())


def test_db_upgrade_stores_old_spellings_as_keys_and_keeps_the_rest(
    synced: Engine, clock: FixedClock
) -> None:
    now = clock.now()
    rows = [("pediatric clinician", "Spanish"), ("Parent or caregiver", "en"), ("Pediatric nurse", "fr")]
    with transaction(synced) as session:
        for i, (role, language) in enumerate(rows):
            session.execute(
                sa.insert(Subscriber).values(
                    email=f"p{i}@example.org",
                    email_hash=f"h{i}",
                    role=role,
                    language=language,
                    attributes={},
                    signup_date=now.date(),
                    created_at=now,
                    updated_at=now,
                )
            )
    with transaction(synced) as session:
        assert respell_stored(session, profile_choices()) == 3
    with synced.connect() as connection:
        stored = connection.execute(
            sa.select(Subscriber.role, Subscriber.language).order_by(Subscriber.email)
        )
        assert list(stored) == [
            ("pediatric-clinician", "es"),
            ("parent-or-caregiver", "en"),
            ("Pediatric nurse", "fr"),
        ]
