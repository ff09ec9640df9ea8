"""What changed for readers between two versions of an issue, for a reviewer reading a pull request.

A diff of the Markdown shows what the author typed; a reviewer needs what readers will get: the
subject and preheader, the links, the events (title, time, place) and the text part as the sample
reader receives it, each version rendered with the layouts and settings of its own commit.
"""

from __future__ import annotations

import difflib
import io
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from outreach.config import CONFIG_FILE, Config, load_config
from outreach.content import read_issue
from outreach.content.walk import every_block
from outreach.errors import DeliveryError
from outreach.models import Block, Event
from outreach.render import render_issue
from outreach.render.sample import SAMPLE_RECIPIENT
from outreach.tokens import recipient_links

WORKING_COPY = "the working copy"


@dataclass(frozen=True)
class ReaderView:
    """An issue as its readers meet it."""

    label: str
    subject: str
    preheader: str
    links: tuple[str, ...]
    events: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class ReaderDiff:
    old: ReaderView
    new: ReaderView

    def lines(self) -> list[str]:
        """The summary list, then the text part as a unified diff."""
        out: list[str] = [f"comparing {self.old.label} with {self.new.label}"]
        for name in ("subject", "preheader"):
            before, after = getattr(self.old, name), getattr(self.new, name)
            out.append(f"{name}: unchanged" if before == after else f"{name}: {before!r} -> {after!r}")
        out += _set_change("link", self.old.links, self.new.links)
        out += _set_change("event", self.old.events, self.new.events)
        text = list(
            difflib.unified_diff(
                self.old.text.splitlines(),
                self.new.text.splitlines(),
                f"text part ({self.old.label})",
                f"text part ({self.new.label})",
                lineterm="",
            )
        )
        out += text or ["text part: unchanged"]
        return out


def _set_change(name: str, old: tuple[str, ...], new: tuple[str, ...]) -> list[str]:
    added = [item for item in new if item not in old]
    removed = [item for item in old if item not in new]
    if not added and not removed:
        return [f"{name}s: unchanged ({len(new)})"]
    return [f"{name} removed: {item}" for item in removed] + [f"{name} added: {item}" for item in added]


def reader_view(issue_path: Path, config: Config, label: str) -> ReaderView:
    issue = read_issue(issue_path, config.time_zone)
    compiled = render_issue(issue, config)
    links = recipient_links(config.base_url, config.secret_key, "1", issue.slug)
    mail = compiled.personalise(SAMPLE_RECIPIENT, links)
    return ReaderView(
        label=label,
        subject=mail.subject,
        preheader=issue.preheader,
        links=tuple(dict.fromkeys(link.url for link in issue.links)),
        events=tuple(_describe(event) for event in _events(issue.blocks)),
        text=mail.text,
    )


def _events(blocks: tuple[Block, ...]) -> Iterator[Event]:
    for block in every_block(blocks):
        if isinstance(block, Event):
            yield block


def _describe(event: Event) -> str:
    starts = f" (starts {event.starts:%Y-%m-%d %H:%M})" if event.starts else ""
    where = f", {event.where}" if event.where else ""
    return f"{event.title}: {event.when}{starts}{where}"


def diff_issue(config: Config, issue_path: Path, old: str = "HEAD", new: str | None = None) -> ReaderDiff:
    """Compare the issue at commit ``old`` with commit ``new`` (the working copy when None)."""
    relative = issue_path.resolve().relative_to(config.root.resolve())
    with _project_at(config, old) as old_root:
        if not (old_root / relative).is_file():
            raise DeliveryError(f"{relative} is not in commit {old}: there is nothing to compare it with")
        before = reader_view(old_root / relative, _config_at(old_root, config), f"commit {old}")
    if new is None:
        after = reader_view(issue_path, config, WORKING_COPY)
    else:
        with _project_at(config, new) as new_root:
            if not (new_root / relative).is_file():
                raise DeliveryError(f"{relative} is not in commit {new}")
            after = reader_view(new_root / relative, _config_at(new_root, config), f"commit {new}")
    return ReaderDiff(before, after)


def _config_at(root: Path, config: Config) -> Config:
    environ = {**config.environ, "OUTREACH_SECRET_KEY": config.secret_key}
    return load_config(root, environ=environ)


@contextmanager
def _project_at(config: Config, revision: str) -> Iterator[Path]:
    """The project's settings, layouts, lists and issues as they were at ``revision``, in a temp folder."""
    git = shutil.which("git")
    if git is None:
        raise DeliveryError("`outreach diff` needs git (apt-get install git)")
    wanted = [
        CONFIG_FILE,
        config.settings.paths.templates,
        config.settings.paths.lists,
        config.settings.paths.newsletters,
    ]
    done = subprocess.run(
        [git, "-C", str(config.root), "archive", "--format=tar", revision, "--", *wanted],
        capture_output=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DeliveryError(
            f"git cannot give the project at {revision!r}: {said[-1] if said else 'unknown error'}; "
            "name a commit, branch or tag (e.g. HEAD~1 or main)"
        )
    with tempfile.TemporaryDirectory(prefix="outreach-diff-") as folder:
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            archive.extractall(folder, filter="data")
        yield Path(folder)
