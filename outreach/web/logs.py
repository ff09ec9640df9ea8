"""What the service writes to its logs: every request, never a token.

Unsubscribe, preference, confirmation and click links carry signed tokens; whoever reads the logs
(an operator, a log shipper, a backup) must not be able to use them. ``redact_path`` hides the
token segment of those paths, ``RedactTokens`` applies it to uvicorn's access log and to our own
records, and ``log_config`` is the logging set-up ``outreach serve`` hands to uvicorn.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from uvicorn.config import LOGGING_CONFIG

# The path segments followed by a token: /u/TOKEN, /u/TOKEN/leave, /p/TOKEN, /confirm/TOKEN, /c/TOKEN.
TOKEN_PREFIXES = ("u", "p", "confirm", "c")
HIDDEN = "[token]"
_TOKEN = re.compile(r"(/(?:" + "|".join(TOKEN_PREFIXES) + r")/)[^/?#\s\"]+", re.IGNORECASE)
# A query string may carry anything a client chose to put there: it is never written down.
_QUERY = re.compile(r"\?[^\s\"]*")


def redact_path(path: str) -> str:
    """``path`` (or a whole request line) with tokens and query strings hidden."""
    return _QUERY.sub("?[query]", _TOKEN.sub(lambda found: found.group(1) + HIDDEN, path))


class RedactTokens(logging.Filter):
    """Rewrites each record's message arguments (uvicorn's access log passes the path as one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact_path(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.msg, str) and not record.args:
            record.msg = redact_path(record.msg)
        return True


def log_config() -> dict[str, Any]:
    """uvicorn's own logging set-up, with every handler passing through ``RedactTokens``."""
    config: dict[str, Any] = {
        **LOGGING_CONFIG,
        "filters": {"redact_tokens": {"()": f"{__name__}.RedactTokens"}},
        "handlers": {
            name: {**handler, "filters": ["redact_tokens"]}
            for name, handler in LOGGING_CONFIG["handlers"].items()
        },
        "loggers": {
            **LOGGING_CONFIG["loggers"],
            "outreach": {"handlers": ["default"], "level": "INFO", "propagate": False},
        },
    }
    return config
