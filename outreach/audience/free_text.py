"""Free text people give us (names, organisation, region, attribute values, consent sources), made safe.

Every way in (imports, ``lists add``, the sign-up form, the preference centre, the JSON API) passes
such text through ``clean_text`` before it is stored. The text is kept as text: nothing is decoded,
so an RFC 2047 encoded word (``=?utf-8?b?...?=``) stays those very characters and can never turn into a
line break in a header later. What goes:

- control characters (C0, DEL, C1: NUL, CR, LF, tab, ESC...) and the Unicode line and paragraph
  separators: line breaks and tabs become a space, the others are dropped;
- lone surrogates (a broken UTF-16 file): neither database can store them;
- the bidirectional overrides and isolates, which make text display in another order than it is
  stored (a classic way to disguise a name or a link).

The rest is normalised to NFC, so that "Renée" typed on a Mac and on Windows is one spelling, and
trimmed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

# Whitespace-like controls become a space so "Ana\nMaria" stays two words.
_SPACE_LIKE = re.compile("[\t\n\v\f\r\x1c-\x1f\x85\u2028\u2029]")
# Every other control character, lone surrogates and the bidi controls are dropped.
_DROPPED = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str) -> str:
    """``value`` without control characters, NFC-normalised and trimmed; see the module docstring."""
    if value.isprintable() and value.isascii():  # the common case: nothing to do but trim
        return value.strip()
    spaced = _SPACE_LIKE.sub(" ", value)
    kept = _DROPPED.sub("", spaced)
    return unicodedata.normalize("NFC", kept).strip()


def clean_values(values: Mapping[str, str]) -> dict[str, str]:
    """Each value cleaned (for custom attributes); the keys are ours and already safe."""
    return {key: clean_text(value) for key, value in values.items()}
