"""Noticing saves: the issue file, anything under templates/, and outreach.toml.

Editors often save by writing a new file and renaming it over the old one, which ends a watch on the
file itself; so the folders holding the files are watched and the changes filtered to the files we
mean. A ``ChangeFeed`` counts changes and wakes the browser streams waiting for the next one.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

log = logging.getLogger("outreach.preview")


class ChangeFeed:
    """The preview's version: a per-run id plus how many changes were seen since the start.

    A page remembers the version it was rendered at; a stream tells it to reload as soon as
    the version differs, so a save between loading the page and connecting is not missed, and a
    restarted server (a new run id) reloads pages left open. ``close`` is safe to call from a
    signal handler.
    """

    def __init__(self) -> None:
        self.run = secrets.token_hex(4)
        self.generation = 0
        self.closed = False
        self._changed: asyncio.Event | None = None

    @property
    def version(self) -> str:
        return f"{self.run}.{self.generation}"

    def publish(self) -> None:
        """Something changed: every waiting stream wakes up (call on the event loop)."""
        self.generation += 1
        if self._changed is not None:
            self._changed.set()
        self._changed = None

    def close(self) -> None:
        """The server is stopping: streams end at their next wake-up (within ``wait``'s timeout)."""
        self.closed = True

    async def wait(self, seen: str, timeout: float) -> str:
        """Wait until the version differs from ``seen``, the feed closes or ``timeout`` passes."""
        if self.version == seen and not self.closed:
            if self._changed is None:
                self._changed = asyncio.Event()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)
        return self.version


@dataclass(frozen=True)
class WatchTargets:
    """What to watch: single files (through their folders) and whole folders."""

    files: tuple[Path, ...]
    trees: tuple[Path, ...]

    @classmethod
    def for_issue(cls, issue_path: Path, config_file: Path, templates: Path) -> WatchTargets:
        files = tuple(path.resolve() for path in (issue_path, config_file))
        return cls(files=files, trees=(templates.resolve(),))

    def accepts(self, path: Path) -> bool:
        return path in self.files or any(path.is_relative_to(tree) for tree in self.trees)

    @property
    def file_folders(self) -> tuple[Path, ...]:
        folders = {path.parent for path in self.files}
        return tuple(sorted(folder for folder in folders if folder.is_dir()))

    @property
    def existing_trees(self) -> tuple[Path, ...]:
        return tuple(tree for tree in self.trees if tree.is_dir())


def change_filter(targets: WatchTargets) -> Callable[[Change, str], bool]:
    """watchfiles' usual filter (no editor swap files, no .git) narrowed to our targets."""
    usual = DefaultFilter()

    def accept(change: Change, path: str) -> bool:
        return usual(change, path) and targets.accepts(Path(path))

    return accept


async def watch_files(targets: WatchTargets, feed: ChangeFeed, stop: asyncio.Event) -> None:
    """Publish a change on ``feed`` for every save, until ``stop`` is set."""
    watchers = [
        _watch(targets.file_folders, False, targets, feed, stop),
        _watch(targets.existing_trees, True, targets, feed, stop),
    ]
    try:
        await asyncio.gather(*watchers)
    except Exception:
        log.exception("live reload stopped; reload the page by hand after saving")


async def _watch(
    folders: tuple[Path, ...], recursive: bool, targets: WatchTargets, feed: ChangeFeed, stop: asyncio.Event
) -> None:
    if not folders:
        return
    async for changes in awatch(
        *folders,
        watch_filter=change_filter(targets),
        stop_event=stop,
        recursive=recursive,
        debounce=400,
        step=50,
    ):
        names = ", ".join(sorted({Path(path).name for _, path in changes}))
        log.info("changed: %s; reloading the preview", names)
        feed.publish()
