"""The SpamAssassin score of the full message, offline (``-L``), when Debian's spamassassin is there.

Never runs ``sa-update``: it fails offline and leaves the rules broken.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass

SCORE = re.compile(
    r"score=(-?\d+(?:\.\d+)?)\s+required=(-?\d+(?:\.\d+)?)(?:\s+tests=([^\n]*(?:\n\t[^\n]*)*))?"
)


@dataclass(frozen=True)
class SpamScore:
    score: float
    required: float
    tests: tuple[str, ...]


def spamassassin_available() -> bool:
    return shutil.which("spamassassin") is not None


def spam_score(message: bytes, timeout: float = 60.0) -> SpamScore | None:
    """Score ``message``; None when spamassassin is not installed or does not answer."""
    binary = shutil.which("spamassassin")
    if binary is None:
        return None
    try:
        result = subprocess.run(
            [binary, "-t", "-L"], input=message, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None
    match = SCORE.search(result.stdout.decode("utf-8", "replace"))
    if not match:
        return None
    tests = tuple(t for t in re.split(r"[,\s]+", match.group(3) or "") if t and "=" not in t)
    return SpamScore(float(match.group(1)), float(match.group(2)), tests)
