"""The review gate: in a git project, only what was committed (and so could be reviewed) goes out.

Staff work in git with a colleague reviewing each issue in a pull request. A send or schedule through a
real transport therefore needs the issue, its language editions, the layouts and the site's settings
to be committed with no change since: what goes out is what was reviewed. The campaign keeps the
commit and a hash of the rendered message. A project that is not a git repository has no review to
check (the gate says so); ``--allow-uncommitted`` skips the check on purpose, and says what it skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from outreach.config import CONFIG_FILE, Config
from outreach.render import CompiledIssue

GIT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Review:
    """What git says about the files an issue renders with."""

    repository: bool
    commit: str = ""
    uncommitted: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        return self.repository and bool(self.commit) and not self.uncommitted


def rendering_files(config: Config, issue_path: Path) -> list[Path]:
    """The issue, its language editions (``slug.es.md`` beside ``slug.md``), the layouts and settings."""
    stem = issue_path.name.split(".", 1)[0]
    editions = sorted(issue_path.parent.glob(f"{stem}.*md"))
    return [*dict.fromkeys([issue_path, *editions]), config.path("templates"), config.root / CONFIG_FILE]


def review_of(root: Path, paths: Sequence[Path]) -> Review:
    """The commit of the project and the paths among ``paths`` with uncommitted or untracked changes."""
    git = shutil.which("git")
    if git is None:
        return Review(repository=False)
    inside = _git(git, root, "rev-parse", "--is-inside-work-tree")
    if inside is None or inside.strip() != "true":
        return Review(repository=False)
    commit = (_git(git, root, "rev-parse", "--verify", "--quiet", "HEAD") or "").strip()
    relative = [str(p.resolve().relative_to(root.resolve())) if p.is_absolute() else str(p) for p in paths]
    status = _git(git, root, "status", "--porcelain=v1", "--untracked-files=all", "--", *relative) or ""
    changed = tuple(sorted({line[3:].strip().strip('"') for line in status.splitlines() if line.strip()}))
    return Review(repository=True, commit=commit, uncommitted=changed)


def _git(git: str, root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            [git, "-C", str(root), *args], capture_output=True, text=True, timeout=GIT_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def content_hash(compiled: CompiledIssue) -> str:
    """A hash of what every reader's message is made from (the campaign keeps the same one)."""
    return compiled.fingerprint


def review_refusal(review: Review, issue_path: Path) -> str:
    """Why the review gate refuses (empty when it does not)."""
    if not review.repository or review.clean:
        return ""
    if not review.commit:
        return "the project has no commit yet: commit the issue so a colleague can review it"
    shown = ", ".join(review.uncommitted[:5]) + (" and more" if len(review.uncommitted) > 5 else "")
    return (
        f"it has changes that are not committed ({shown}): commit them (a colleague reviews the commit), "
        f"or add --allow-uncommitted to send what is on this disk unreviewed"
    )
