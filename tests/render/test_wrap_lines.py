"""Long HTML lines are broken exactly where the straightforward character-by-character scan breaks them."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from outreach.render.compiled import _wrap_line, wrap_long_lines


def scanned(line: str, limit: int) -> str:
    """The reference: every character visited, the state kept by hand."""
    out: list[str] = []
    start, last_space, quote, in_tag = 0, -1, "", False
    for index, char in enumerate(line):
        if quote:
            if char == quote:
                quote = ""
        elif char == "<":
            in_tag = True
        elif char == ">":
            in_tag = False
        elif in_tag and char in "\"'":
            quote = char
        elif char == " ":
            last_space = index
        if index - start >= limit and last_space > start:
            out.append(line[start:last_space])
            start, last_space = last_space + 1, -1
    out.append(line[start:])
    return "\n".join(out)


@settings(max_examples=500)
@given(st.text(alphabet="<>\"' ab=", max_size=80), st.integers(min_value=1, max_value=15))
def test_a_line_breaks_where_the_character_scan_breaks_it(line: str, limit: int) -> None:
    assert _wrap_line(line, limit) == scanned(line, limit)


def test_no_break_lands_inside_a_quoted_attribute() -> None:
    html = "<a href=\"https://x.example/a b c d e f\" title='g h i'>one two three four five six</a>"
    wrapped = wrap_long_lines(html, limit=10)
    assert 'href="https://x.example/a b c d e f"' in wrapped and "title='g h i'" in wrapped
    assert max(len(line) for line in wrapped.split("\n")) < len(html)
    assert wrapped.replace("\n", " ") == html
