"""The one error tree of outreach.

Every error a user can cause is an ``OutreachError``; its message says what went wrong, where (a
``path:line`` or a config key) and what to do next. The CLI prints it as one line and exits non-zero,
never with a traceback.

    OutreachError
    ├── ConfigError(key)                 outreach.toml or the environment
    ├── ContentError(path, line)         front matter and Markdown of an issue
    │   └── ContentErrors                several at once, so staff fix them in one pass
    ├── TemplateError(template, line)    Jinja2 and MJML layouts in templates/
    ├── AudienceError                    subscribers, imports, segments
    │   ├── ImportRejected
    │   ├── SegmentError(path, line)
    │   ├── SegmentFileChanged
    │   └── TopicsError(path, line)
    ├── DatabaseError                    schema behind, unreachable database
    ├── DeliveryError                    campaigns and the ledger
    ├── AccountError                     the admin app's users, sign-in and tokens
    └── TransportError(provider, endpoint, status, detail)
"""

from __future__ import annotations

from collections.abc import Sequence


class OutreachError(Exception):
    """Base of every error a user can cause or fix."""


class ConfigError(OutreachError):
    """A setting in outreach.toml or the environment is missing or wrong; ``key`` names it."""

    def __init__(self, message: str, key: str | None = None, path: str | None = None) -> None:
        self.key = key
        self.path = path
        where = f"{path}: " if path else ""
        what = f"[{key}] " if key else ""
        super().__init__(f"{where}{what}{message}")


def located(path: str | None, line: int | None) -> str:
    """Format ``path:line`` (or whichever half is known) the way editors and terminals link it."""
    if path and line:
        return f"{path}:{line}"
    return path or (f"line {line}" if line else "")


class Located(OutreachError):
    """An error at a place in a file: ``path:line: message``."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        where = located(path, line)
        super().__init__(f"{where}: {message}" if where else message)


class ContentError(Located):
    """A mistake in an issue's front matter or Markdown, at ``path:line``."""


class ContentErrors(ContentError):
    """Several content mistakes found in one read; staff see them all at once."""

    def __init__(self, errors: Sequence[ContentError]) -> None:
        self.errors = list(errors)
        first = self.errors[0]
        super().__init__(first.message, first.path, first.line)
        self.args = ("\n".join(str(e) for e in self.errors),)

    def __str__(self) -> str:
        return "\n".join(str(e) for e in self.errors)


class TemplateError(Located):
    """A layout in templates/ does not compile: ``template:line`` says where."""

    def __init__(self, message: str, template: str | None = None, line: int | None = None) -> None:
        super().__init__(message, template, line)

    @property
    def template(self) -> str | None:
        return self.path


class AudienceError(OutreachError):
    """A problem with subscribers, topics, consent or segments."""


class ImportRejected(AudienceError):
    """An import could not be applied at all; nothing was written."""


class SegmentError(Located, AudienceError):
    """A segment rule is wrong; the message names the file, the line and the valid choices."""


class SegmentFileChanged(AudienceError):
    """segments.yaml changed since the person opened it; their change was not written."""


class TopicsError(Located, AudienceError):
    """lists/topics.yaml is wrong; the message names the file, the line and what would be valid."""


class DatabaseError(OutreachError):
    """The database is unreachable or its schema is behind the code."""


class DeliveryError(OutreachError):
    """A campaign cannot be planned, sent, paused or resumed as asked."""


class AccountError(OutreachError):
    """A user of the admin app cannot be added, changed or signed in as asked; says why."""


class TransportError(OutreachError):
    """A way out (SMTP server, ESP API) refused or failed; says which, where and how."""

    def __init__(
        self,
        detail: str,
        provider: str,
        endpoint: str | None = None,
        status: str | int | None = None,
        transient: bool = False,
    ) -> None:
        self.detail = detail
        self.provider = provider
        self.endpoint = endpoint
        self.status = status
        self.transient = transient
        parts = [provider]
        if endpoint:
            parts.append(endpoint)
        if status is not None:
            parts.append(str(status))
        super().__init__(f"{' '.join(parts)}: {detail}")
