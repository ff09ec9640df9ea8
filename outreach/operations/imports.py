"""Imports from a browser: an uploaded CSV kept on disk, looked at (dry runs) as often as needed, then
applied in the background while its progress is read from another request.

The upload is kept under the project's data folder (``.outreach/imports/ID``, ID random and
unguessable) with ``meta.json``: who uploaded it, how to read it (column mapping, encoding,
separator) and the import options chosen, and, once applied, what it did. Every look and the apply
itself are ``outreach.audience.csv_import.import_csv``, the call ``outreach lists import`` makes,
so the dry run shows exactly what applying does. Applying runs in a thread of the serving process
in one transaction: a failure part-way, or the process stopping, writes nothing. Uploads older than
``KEEP_DAYS`` are removed when the next one arrives.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.engine import Engine

from outreach.audience.choices import profile_choices
from outreach.audience.csv_import import ImportReport, Reading, import_csv, needs_consent
from outreach.audience.csv_read import Table, read_table
from outreach.audience.import_plan import ExistingPolicy, ImportOptions
from outreach.audience.topics import TOPICS_FILE, TopicDefinition, load_topics
from outreach.clock import Clock
from outreach.config import Config
from outreach.errors import ImportRejected, OutreachError
from outreach.models import Actor

log = logging.getLogger("outreach.imports")

DATA_FOLDER = Path(".outreach") / "imports"
KEEP_DAYS = 7
UPLOAD = "upload.csv"
META = "meta.json"
REJECTS = "rejects.csv"
# A dry run before the consent basis is written still shows every other reason a row is rejected.
CONSENT_TO_COME = "(the consent basis you will give)"
LOOK_SECONDS = 60.0
_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class ImportState(StrEnum):
    READY = "ready"  # uploaded; looked at as often as wanted
    APPLYING = "applying"
    DONE = "done"
    FAILED = "failed"  # nothing was written; it may be applied again


@dataclass(frozen=True)
class ImportSettings:
    """What a person chose: how to read the file and the options of ``outreach lists import``."""

    mapping: dict[str, str] = field(default_factory=dict)  # header key -> field
    encoding: str = ""  # "" = detected
    delimiter: str = ""  # "" = detected
    consent: str = ""
    update: bool = False
    topics: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    notice_version: str = ""

    @property
    def reading(self) -> Reading:
        return Reading(self.mapping or None, self.encoding or None, self.delimiter or None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ImportSettings:
        return cls(
            mapping={str(k): str(v) for k, v in dict(data.get("mapping", {})).items()},
            encoding=str(data.get("encoding", "")),
            delimiter=str(data.get("delimiter", "")),
            consent=str(data.get("consent", "")),
            update=bool(data.get("update", False)),
            topics=tuple(str(t) for t in data.get("topics", ())),
            tags=tuple(str(t) for t in data.get("tags", ())),
            notice_version=str(data.get("notice_version", "")),
        )


@dataclass(frozen=True)
class Upload:
    """One uploaded file and everything decided about it."""

    id: str
    folder: Path
    filename: str
    uploaded_by: str
    uploaded_at: datetime
    settings: ImportSettings = ImportSettings()
    state: ImportState = ImportState.READY
    result: dict[str, int] = field(default_factory=dict)
    error: str = ""
    applied_by: str = ""

    @property
    def path(self) -> Path:
        return self.folder / UPLOAD

    @property
    def rejects_path(self) -> Path:
        return self.folder / REJECTS


class ImportShelf:
    """The uploads of one project, on disk."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.root = config.root / DATA_FOLDER
        self._lock = threading.Lock()

    def store(self, stream: BinaryIO, filename: str, by: str, now: datetime) -> Upload:
        """Keep an uploaded file under a new random id; an empty file is ImportRejected."""
        self.prune(now)
        self.root.mkdir(parents=True, exist_ok=True)
        upload_id = secrets.token_urlsafe(18)
        folder = self.root / upload_id
        folder.mkdir(mode=0o700)
        with (folder / UPLOAD).open("wb") as out:
            shutil.copyfileobj(stream, out, 1024 * 1024)
        if (folder / UPLOAD).stat().st_size == 0:
            shutil.rmtree(folder)
            raise ImportRejected(f"{filename or 'the file'} is empty; choose the CSV export again")
        name = Path(filename.replace("\\", "/")).name[:200] or "upload.csv"
        upload = Upload(upload_id, folder, name, by, now)
        self.save(upload)
        return upload

    def get(self, upload_id: str) -> Upload | None:
        """The upload with that id, or None (no such id, or not an id at all)."""
        if not _ID.match(upload_id):
            return None
        folder = self.root / upload_id
        try:
            data = json.loads((folder / META).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return Upload(
            id=upload_id,
            folder=folder,
            filename=str(data["filename"]),
            uploaded_by=str(data["uploaded_by"]),
            uploaded_at=datetime.fromisoformat(data["uploaded_at"]),
            settings=ImportSettings.from_json(data.get("settings", {})),
            state=ImportState(data.get("state", "ready")),
            result={str(k): int(v) for k, v in dict(data.get("result", {})).items()},
            error=str(data.get("error", "")),
            applied_by=str(data.get("applied_by", "")),
        )

    def save(self, upload: Upload) -> None:
        """Write the upload's meta.json atomically (a reader never sees half of it)."""
        data = {
            "filename": upload.filename,
            "uploaded_by": upload.uploaded_by,
            "uploaded_at": upload.uploaded_at.isoformat(),
            "settings": asdict(upload.settings),
            "state": upload.state.value,
            "result": upload.result,
            "error": upload.error,
            "applied_by": upload.applied_by,
        }
        with self._lock:
            handle, temporary = tempfile.mkstemp(prefix=".meta.", dir=upload.folder)
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(data, out, ensure_ascii=False)
            os.replace(temporary, upload.folder / META)

    def recent(self, limit: int = 20) -> list[Upload]:
        """The uploads kept, newest first."""
        if not self.root.is_dir():
            return []
        found = [u for u in (self.get(p.name) for p in self.root.iterdir() if p.is_dir()) if u is not None]
        return sorted(found, key=lambda u: u.uploaded_at, reverse=True)[:limit]

    def prune(self, now: datetime) -> None:
        """Remove uploads older than ``KEEP_DAYS`` (they hold people's data; nobody needs them later)."""
        if not self.root.is_dir():
            return
        oldest = now - timedelta(days=KEEP_DAYS)
        for folder in self.root.iterdir():
            if not folder.is_dir():
                continue
            upload = self.get(folder.name)
            if upload is None:  # a folder whose upload never finished arriving
                made = datetime.fromtimestamp(folder.stat().st_mtime, tz=now.tzinfo)
                if made < oldest:
                    shutil.rmtree(folder, ignore_errors=True)
            elif upload.uploaded_at < oldest and upload.state is not ImportState.APPLYING:
                shutil.rmtree(folder, ignore_errors=True)


def site_topics(config: Config) -> tuple[TopicDefinition, ...]:
    path = config.path("lists") / TOPICS_FILE
    return load_topics(path, str(path.relative_to(config.root)) if path.is_relative_to(config.root) else None)


def options_for(config: Config, settings: ImportSettings, actor: str, consent: str | None) -> ImportOptions:
    return ImportOptions(
        consent=consent,
        policy=ExistingPolicy.UPDATE if settings.update else ExistingPolicy.SKIP,
        topics=settings.topics,
        tags=settings.tags,
        notice_version=settings.notice_version,
        actor=actor,
        choices=profile_choices(config.settings.audience),
    )


def read_upload(upload: Upload) -> Table:
    """The file as the import will read it, for showing its columns (ImportRejected if it cannot be)."""
    return read_table(
        upload.path,
        upload.settings.mapping or None,
        encoding=upload.settings.encoding or None,
        delimiter=upload.settings.delimiter or None,
    )


def consent_needed(upload: Upload, config: Config) -> bool:
    """Whether applying needs the consent basis the person has not written yet."""
    table = read_upload(upload)
    return needs_consent(table, options_for(config, upload.settings, "", upload.settings.consent or None))


def look(config: Config, engine: Engine, upload: Upload, clock: Clock) -> ImportReport:
    """A dry run: what applying would do, with the rejected rows written to the upload's rejects.csv."""
    settings = upload.settings
    options = options_for(config, settings, "", settings.consent or CONSENT_TO_COME)
    upload.rejects_path.unlink(missing_ok=True)  # an earlier look's rejects are not this one's
    return import_csv(
        engine,
        upload.path,
        options,
        site_topics(config),
        clock,
        dry_run=True,
        reading=settings.reading,
        rejects_path=upload.rejects_path,
    )


@dataclass(frozen=True)
class ApplyProgress:
    """How far an apply is, for the page that follows it."""

    state: ImportState
    stage: str = "waiting"
    done: int = 0
    total: int = 0
    error: str = ""

    @property
    def percent(self) -> int:
        if self.state is ImportState.DONE:
            return 100
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def words(self) -> str:
        if self.state is ImportState.DONE:
            return "Finished: every row is written."
        if self.state is ImportState.FAILED:
            return "Stopped: nothing was written."
        if self.stage == "writing":
            return f"Writing: {self.done:,} of {self.total:,} people done."
        if self.stage == "checking":
            return f"Checking {self.total:,} rows against the list."
        return "Reading the file."

    def as_event(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "stage": self.stage,
            "done": f"{self.done:,}",
            "total": f"{self.total:,}",
            "percent": self.percent,
            "words": self.words,
            "finished": self.state in (ImportState.DONE, ImportState.FAILED),
        }


INTERRUPTED = (
    "The import stopped before it finished (the app was restarted). It is written in one transaction, "
    "so nothing was changed; apply it again."
)


class BackgroundImports:
    """The imports this process applies, one thread each (never two for one upload)."""

    def __init__(self, config: Config, engine: Engine, clock: Clock) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.shelf = ImportShelf(config)
        self._threads: dict[str, threading.Thread] = {}
        self._progress: dict[str, ApplyProgress] = {}
        self._looks: dict[str, tuple[str, datetime, ImportReport]] = {}
        self._lock = threading.Lock()

    def start(self, upload: Upload, actor: Actor) -> bool:
        """Apply the upload in a new thread; False when it is being applied or was applied already.

        The caller has checked the consent basis (``consent_needed``)."""
        with self._lock:
            current = self.shelf.get(upload.id) or upload
            # A state of "applying" that no thread of this process runs was interrupted: nothing was
            # written (one transaction), so it may be applied again.
            if self._alive(upload.id) or current.state is ImportState.DONE:
                return False
            applying = replace(current, state=ImportState.APPLYING, error="", applied_by=actor.name)
            self.shelf.save(applying)
            self._progress[upload.id] = ApplyProgress(ImportState.APPLYING)
            thread = threading.Thread(
                target=self._apply, args=(applying, actor), name=f"import-{upload.id[:8]}", daemon=True
            )
            self._threads[upload.id] = thread
            thread.start()
            return True

    def progress(self, upload: Upload) -> ApplyProgress:
        """Where the upload stands; an apply that no thread of this process runs has stopped."""
        with self._lock:
            running = self._progress.get(upload.id) if self._alive(upload.id) else None
        if running is not None:
            return running
        fresh = self.shelf.get(upload.id) or upload
        if fresh.state is ImportState.APPLYING:
            return ApplyProgress(ImportState.FAILED, error=INTERRUPTED)
        return ApplyProgress(fresh.state, error=fresh.error)

    def look(self, upload: Upload) -> ImportReport:
        """``look`` at the upload, kept while its choices stay the same for ``LOOK_SECONDS``: reading
        and checking 100,000 rows takes seconds, and the page, "Check again" and the rejects download
        would otherwise each do it again."""
        key = json.dumps(asdict(upload.settings), sort_keys=True)
        now = self.clock.now()
        with self._lock:
            kept = self._looks.get(upload.id)
        fresh = kept is not None and kept[0] == key and now - kept[1] < timedelta(seconds=LOOK_SECONDS)
        if kept is not None and fresh and (kept[2].rejected == 0 or upload.rejects_path.exists()):
            return kept[2]
        report = look(self.config, self.engine, upload, self.clock)
        with self._lock:
            self._looks[upload.id] = (key, now, report)
        return report

    def wait(self, upload_id: str, timeout: float | None = None) -> None:
        """Wait for an apply to end (tests, and shutting down)."""
        thread = self._threads.get(upload_id)
        if thread is not None:
            thread.join(timeout)

    def _alive(self, upload_id: str) -> bool:
        thread = self._threads.get(upload_id)
        return thread is not None and thread.is_alive()

    def _apply(self, upload: Upload, actor: Actor) -> None:
        settings = upload.settings

        def heard(stage: str, done: int, total: int) -> None:
            with self._lock:
                self._progress[upload.id] = ApplyProgress(ImportState.APPLYING, stage, done, total)

        options = options_for(self.config, settings, f"{actor.name} (admin app)", settings.consent or None)
        upload.rejects_path.unlink(missing_ok=True)
        try:
            report = import_csv(
                self.engine,
                upload.path,
                options,
                site_topics(self.config),
                self.clock,
                reading=settings.reading,
                rejects_path=upload.rejects_path,
                actor=actor,
                progress=heard,
            )
        except OutreachError as err:
            self._end(upload, ImportState.FAILED, error=str(err))
        except Exception as err:  # a bug must still end the page's wait, with nothing written
            log.exception("import %s failed", upload.id)
            self._end(upload, ImportState.FAILED, error=f"the import failed and nothing was changed: {err}")
        else:
            self._end(upload, ImportState.DONE, result=summary(report))

    def _end(
        self, upload: Upload, state: ImportState, error: str = "", result: dict[str, int] | None = None
    ) -> None:
        ended = replace(upload, state=state, error=error, result=result or {})
        self.shelf.save(ended)
        with self._lock:
            self._looks.pop(upload.id, None)  # the list has changed: the next look checks again
            self._progress[upload.id] = ApplyProgress(state, error=error)


def summary(report: ImportReport) -> dict[str, int]:
    """The figures of a report, as kept in meta.json and shown after an apply."""
    return {
        "rows": report.rows,
        "new": report.new,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "skipped_existing": report.skipped_existing,
        "kept_out": len(report.kept_out),
        "suppressed": report.suppressed,
        "already_suppressed": report.already_suppressed,
        "merged_duplicates": report.merged_duplicates,
        "rejected": report.rejected,
    }
