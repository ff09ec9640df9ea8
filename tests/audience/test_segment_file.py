"""segment_file: a segment saved as it is leaves the file byte for byte; a change touches only its
segment; a rule that does not check, or a file changed meanwhile, writes nothing."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from outreach.audience import transaction
from outreach.audience.segment_file import delete_segment, read_segment_file, save_segment
from outreach.audience.segments import load_segments
from outreach.clock import FixedClock
from outreach.errors import SegmentError, SegmentFileChanged
from outreach.models import Actor

REPO = Path(__file__).resolve().parents[2]
WHO = Actor("maria@laptop", "cli", "laptop")
CLOCK = FixedClock(datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture
def segments_file(tmp_path: Path) -> Path:
    path = tmp_path / "segments.yaml"
    shutil.copy(REPO / "lists" / "segments.yaml", path)
    return path


def test_saving_every_segment_as_it_is_changes_no_byte(segments_file: Path, engine: Engine) -> None:
    original = segments_file.read_bytes()
    for name, source in read_segment_file(segments_file).sources.items():
        version = read_segment_file(segments_file).version
        with transaction(engine) as session:
            save_segment(
                session,
                segments_file,
                name=name,
                description=source.description,
                rule_text=source.rule_text,
                version=version,
                actor=WHO,
                clock=CLOCK,
            )
        assert segments_file.read_bytes() == original, name


def test_a_change_touches_only_its_segment(segments_file: Path, engine: Engine) -> None:
    before = segments_file.read_text(encoding="utf-8")
    current = read_segment_file(segments_file)
    with transaction(engine) as session:
        save_segment(
            session,
            segments_file,
            name="policy-advocates",
            description="Advocates: policy alerts",
            rule_text="any:\r\n  - topic: policy-advocacy  # the alerts\r\n  - tag: advocate\r\n",
            version=current.version,
            actor=WHO,
            clock=CLOCK,
        )
    after = segments_file.read_text(encoding="utf-8")
    head, tail = before.split("policy-advocates:")
    assert after.startswith(head)
    assert after.endswith(tail[tail.index("\n\nnew-since-conference:") :])
    assert "    - topic: policy-advocacy  # the alerts\n" in after
    assert load_segments(segments_file)["policy-advocates"].description == "Advocates: policy alerts"


def test_nothing_is_written_for_a_bad_rule_or_a_changed_file(segments_file: Path, engine: Engine) -> None:
    original = segments_file.read_bytes()
    version = read_segment_file(segments_file).version
    with pytest.raises(SegmentError) as caught, transaction(engine) as session:
        save_segment(
            session,
            segments_file,
            name="home-visitors",
            description="",
            rule_text="all:\n  - role: home-visitor\n  - topic: {has: [nope}\n",
            version=version,
            actor=WHO,
            clock=CLOCK,
        )
    assert caught.value.path == "rule" and caught.value.line == 3
    segments_file.write_bytes(original + b"\n# a note added meanwhile\n")
    with pytest.raises(SegmentFileChanged), transaction(engine) as session:
        delete_segment(session, segments_file, name="home-visitors", version=version, actor=WHO, clock=CLOCK)
    assert segments_file.read_bytes() == original + b"\n# a note added meanwhile\n"
    assert not list(segments_file.parent.glob(".segments.yaml.*"))  # no temporary file left behind
