"""Typed reading of one ``[transports.NAME]`` table, with errors that name ``transports.NAME.KEY``.

The config model keeps a transport's extra keys as a plain mapping (each backend owns its keys), so
each backend reads them here: every read checks the type, a missing required key or a wrong value
names its key, and ``done()`` refuses keys nobody read, so a typo never falls back to a default.
Secrets are never keys: a key names the environment variable that holds the secret.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from outreach.errors import ConfigError


class Options:
    """The keys of ``[transports.NAME]`` (minus ``backend``) and the environment to find secrets in."""

    def __init__(self, name: str, values: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.name = name
        self._values = dict(values)
        self._environ = environ
        self._read: set[str] = set()

    def key(self, key: str) -> str:
        return f"transports.{self.name}.{key}"

    def _get(self, key: str, default: Any, kind: type | tuple[type, ...], what: str) -> Any:
        self._read.add(key)
        if key not in self._values:
            if default is _REQUIRED:
                raise ConfigError(f"is required: set it to {what}", key=self.key(key))
            return default
        value = self._values[key]
        if isinstance(value, bool) and kind is not bool:
            raise ConfigError(f"must be {what}, got {value!r}", key=self.key(key))
        if not isinstance(value, kind):
            raise ConfigError(f"must be {what}, got {value!r}", key=self.key(key))
        return value

    def text(self, key: str, default: str | None = None) -> str:
        """A string; required when ``default`` is None."""
        value = self._get(key, _REQUIRED if default is None else default, str, "a string")
        return str(value)

    def integer(
        self, key: str, default: int | None = None, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value = int(self._get(key, _REQUIRED if default is None else default, int, "a whole number"))
        if value < minimum or (maximum is not None and value > maximum):
            upper = f" and {maximum}" if maximum is not None else " or more"
            between = f"between {minimum}{upper}" if maximum is not None else f"{minimum}{upper}"
            raise ConfigError(f"must be {between}, got {value}", key=self.key(key))
        return value

    def number(self, key: str, default: float | None = None, minimum: float = 0.0) -> float:
        value = float(self._get(key, _REQUIRED if default is None else default, (int, float), "a number"))
        if value <= minimum:
            raise ConfigError(f"must be more than {minimum:g}, got {value:g}", key=self.key(key))
        return value

    def flag(self, key: str, default: bool) -> bool:
        return bool(self._get(key, default, bool, "true or false"))

    def choice(self, key: str, choices: Sequence[str], default: str | None = None) -> str:
        value = self.text(key, default)
        if value not in choices:
            known = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"must be one of {known}, got {value!r}", key=self.key(key))
        return value

    def secret(self, key: str, default_variable: str, purpose: str, required: bool = True) -> str:
        """The secret in the environment variable that ``key`` names (default ``default_variable``)."""
        variable = self.text(key, default_variable)
        value = self._environ.get(variable, "")
        if not value and required:
            raise ConfigError(
                f"set the environment variable {variable} ({purpose} for transport {self.name!r})",
                key=variable,
            )
        return value

    def done(self) -> None:
        """Refuse keys this backend does not know, by name."""
        unknown = sorted(set(self._values) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read)) or "none"
            raise ConfigError(
                f"is not a setting of this transport; check the spelling (known: {known})",
                key=self.key(unknown[0]),
            )


_REQUIRED: Any = object()
