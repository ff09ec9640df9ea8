"""The site's secret keys: one site, one secret, used by every process, kept when it changes.

Every unsubscribe, preference, confirmation and click link is signed. If ``outreach send`` signed with
one key and ``outreach serve`` checked with another, every link in every mail already sent would be
dead, and nobody would notice until subscribers could not leave. So:

- the environment variable ``OUTREACH_SECRET_KEY`` names the key when an operator wants to manage it;
- otherwise a random 256-bit key is made on first use and kept in ``.outreach/secret`` in the project
  folder (mode 0600, ignored by git), so every command run from that folder uses the same one;
- rotating adds a new key in front: the newest signs, every older one still verifies, so links
  already sent keep working (``OUTREACH_PREVIOUS_SECRET_KEYS`` lists older keys kept elsewhere);
- a key shorter than 32 bytes, or one published anywhere (like the development key older versions
  had built in), is refused with a message saying how to make a good one.

This module reads and writes only that file; ``outreach.config.load_config`` calls it at an entry point.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from outreach.errors import ConfigError

KEY_FILE = Path(".outreach") / "secret"
ENV_KEY = "OUTREACH_SECRET_KEY"
ENV_PREVIOUS = "OUTREACH_PREVIOUS_SECRET_KEYS"
MIN_BYTES = 32
# Keys anyone can read in public source code: never accepted, whatever their length.
PUBLISHED = frozenset({"outreach-development-key-not-for-production"})
HOW_TO_MAKE = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
_HEADER = (
    "# outreach: this site's secret keys. Keep this file private and out of version control.\n"
    "# The first key signs new links; the others still verify links already sent.\n"
    "# Rotate with `outreach secret rotate`; never delete a line while its links may still be used.\n"
)


@dataclass(frozen=True)
class SiteKeys:
    """The key that signs (``current``) and every key that verifies (``accepted``, current first)."""

    current: str
    accepted: tuple[str, ...]
    source: str

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.current)


def fingerprint(key: str) -> str:
    """A short one-way name for a key, safe to store and print (it reveals nothing of the key)."""
    return hashlib.sha256(b"outreach key fingerprint\x00" + key.encode("utf-8")).hexdigest()[:24]


def check_key(key: str, where: str) -> str:
    """Refuse a key that is short, low in variety or published; ``where`` names its origin."""
    if key in PUBLISHED:
        raise ConfigError(f"{where} is a published key that anyone can read; {HOW_TO_MAKE}", key=ENV_KEY)
    if len(key.encode("utf-8")) < MIN_BYTES or len(set(key)) < 8:
        raise ConfigError(
            f"{where} is too weak: a secret key needs at least {MIN_BYTES} random bytes; {HOW_TO_MAKE}",
            key=ENV_KEY,
        )
    return key


def load_site_keys(root: Path, environ: Mapping[str, str]) -> SiteKeys:
    """The site's keys: the environment's key if set, else the key file's (made on first use)."""
    from_file = read_key_file(root / KEY_FILE)
    previous = [
        check_key(k, f"a key in {ENV_PREVIOUS}")
        for k in environ.get(ENV_PREVIOUS, "").replace(",", " ").split()
    ]
    configured = environ.get(ENV_KEY, "").strip()
    if configured:
        current, source = check_key(configured, ENV_KEY), f"the environment ({ENV_KEY})"
    else:
        if not from_file:
            from_file = [create_key_file(root / KEY_FILE)]
        current, source = from_file[0], str(KEY_FILE)
    return SiteKeys(current=current, accepted=_unique([current, *previous, *from_file]), source=source)


def read_key_file(path: Path) -> list[str]:
    """The keys in ``path``, newest first; an empty list when there is no such file."""
    return [key for key, _created in _entries(path)]


def _entries(path: Path) -> list[tuple[str, str]]:
    """(key, when it was made) for each line of the key file, newest first."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except OSError as err:
        raise ConfigError(f"cannot read the site's secret {path}: {err.strerror}", key=ENV_KEY) from None
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if len(words) != 3 or words[0] != "key":
            raise ConfigError(f"{path}:{number}: expected 'key CREATED VALUE'", key=ENV_KEY)
        entries.append((check_key(words[2], f"{path}:{number}"), words[1]))
    return entries


def create_key_file(path: Path) -> str:
    """Make a new random key and keep it in ``path`` (0600); another process may win the race."""
    key = secrets.token_urlsafe(32)
    _write(path, [(key, _now())], exclusive=True)
    return read_key_file(path)[0]


def rotate(root: Path) -> SiteKeys:
    """Put a new key in front of the key file; the old ones keep verifying links already sent."""
    path = root / KEY_FILE
    old = _entries(path)
    key = secrets.token_urlsafe(32)
    _write(path, [(key, _now()), *old], exclusive=False)
    return SiteKeys(current=key, accepted=_unique([key, *(k for k, _ in old)]), source=str(KEY_FILE))


def _write(path: Path, entries: Iterable[tuple[str, str]], exclusive: bool) -> None:
    body = _HEADER + "".join(f"key {created} {key}\n" for key, created in entries)
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        if exclusive:
            try:
                descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                return  # another process made it first: theirs is the site's key
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(body)
            return
        temporary = path.with_name(path.name + ".new")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(body)
        os.replace(temporary, path)
    except OSError as err:
        raise ConfigError(
            f"cannot keep the site's secret in {path} ({err.strerror}); "
            f"set {ENV_KEY} instead ({HOW_TO_MAKE})",
            key=ENV_KEY,
        ) from None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _unique(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))
