"""A line chart as one self-contained SVG element, with its title, description and data points named.

Everything is drawn with presentation attributes (no ``style``), so the SVG shows the same inline in a
page under a strict Content-Security-Policy, in a file mailed to the board, and printed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

WIDTH = 720
HEIGHT = 320
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 16, 84
MAX_X_LABELS = 8
Y_TICKS = 4
# Colours keep 3:1 against white (WCAG 1.4.11); each series also has its own dash pattern.
STYLES = [
    ("#1d4e56", ""),
    ("#b5452f", "8 4"),
    ("#5b3d8f", "2 3"),
    ("#7a5600", "10 3 2 3"),
    ("#1f5fa8", "4 2"),
    ("#3d6b1f", "1 4"),
]
INK = "#1f2a30"
GRID = "#cfd6da"


@dataclass(frozen=True)
class Series:
    """One named line: a whole number for each label of its chart."""

    name: str
    values: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.values)


@dataclass(frozen=True)
class Chart:
    """What a chart says: its title, a description in words, the labels and the series."""

    key: str  # unique on its page: the SVG's ids are made from it
    title: str
    description: str
    labels: tuple[str, ...]
    series: tuple[Series, ...]
    label_heading: str = "When"
    totals: bool = field(default=True)  # say each series' total in the description

    def __post_init__(self) -> None:
        for line in self.series:
            if len(line.values) != len(self.labels):
                raise ValueError(f"series {line.name!r} has {len(line.values)} values for {len(self.labels)}")

    @property
    def rows(self) -> list[tuple[str, tuple[int, ...]]]:
        """The numbers as a table: one row per label, one column per series."""
        return [(label, tuple(s.values[i] for s in self.series)) for i, label in enumerate(self.labels)]

    @property
    def summary(self) -> str:
        """The description, with each series' total when that is meaningful."""
        if not self.labels:
            return f"{self.description} Nothing to show yet."
        if not self.totals:
            return self.description
        said = ", ".join(f"{s.total:,} {s.name.lower()}" for s in self.series)
        return f"{self.description} In all: {said}."


def nice_ceiling(value: int) -> int:
    """The top of the scale: ``Y_TICKS`` steps of a round whole number (1, 2, 2.5 or 5 times a
    power of ten) that reach ``value``."""
    if value <= Y_TICKS:
        return Y_TICKS
    raw = value / Y_TICKS
    power = 10 ** math.floor(math.log10(raw))
    for step in (1, 2, 2.5, 5, 10):
        tick = step * power
        if tick >= raw and float(tick).is_integer():
            return int(tick) * Y_TICKS
    return int(10 * power) * Y_TICKS


def _x(i: int, count: int) -> float:
    span = WIDTH - LEFT - RIGHT
    return LEFT + span / 2 if count == 1 else LEFT + span * i / (count - 1)


def _y(value: int, top: int) -> float:
    span = HEIGHT - TOP - BOTTOM
    return TOP + span * (1 - value / top)


def _text(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="12" fill="{INK}" '
        f'font-family="system-ui, sans-serif">{escape(text)}</text>'
    )


def _axes(chart: Chart, top: int) -> list[str]:
    parts = []
    for tick in range(Y_TICKS + 1):
        value = top * tick // Y_TICKS
        y = _y(value, top)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(LEFT - 8, y + 4, f"{value:,}", "end"))
    count = len(chart.labels)
    every = max(1, math.ceil(count / MAX_X_LABELS))
    for i in range(0, count, every):
        parts.append(_text(_x(i, count), HEIGHT - BOTTOM + 18, chart.labels[i]))
    base = _y(0, top)
    parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{base:.1f}" y2="{base:.1f}" stroke="{INK}"/>')
    return parts


def _line(chart: Chart, index: int, top: int) -> list[str]:
    line = chart.series[index]
    colour, dash = STYLES[index % len(STYLES)]
    count = len(chart.labels)
    points = " ".join(f"{_x(i, count):.1f},{_y(v, top):.1f}" for i, v in enumerate(line.values))
    dashed = f' stroke-dasharray="{dash}"' if dash else ""
    parts = [
        '<g aria-hidden="true">',
        f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5"{dashed}/>',
    ]
    for i, value in enumerate(line.values):
        parts.append(
            f'<circle cx="{_x(i, count):.1f}" cy="{_y(value, top):.1f}" r="3" fill="{colour}">'
            f"<title>{escape(chart.labels[i])}: {value:,} {escape(line.name.lower())}</title></circle>"
        )
    parts.append("</g>")
    return parts


def _legend(chart: Chart) -> list[str]:
    parts = []
    x, y = float(LEFT), float(HEIGHT - 24)
    for index, line in enumerate(chart.series):
        colour, dash = STYLES[index % len(STYLES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        parts.append(
            f'<line x1="{x:.1f}" x2="{x + 28:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="{colour}" '
            f'stroke-width="3"{dashed}/>'
        )
        parts.append(_text(x + 34, y + 4, line.name, "start"))
        x += 48 + 7.5 * len(line.name)
        if x > WIDTH - 140:
            x, y = float(LEFT), y + 18
    return parts


def to_svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element (safe to put in HTML as it is: every text is escaped)."""
    highest = max((max(s.values, default=0) for s in chart.series), default=0)
    top = nice_ceiling(highest)
    ident = "".join(c if c.isalnum() else "-" for c in chart.key)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
        f'class="chart" role="img" aria-labelledby="{ident}-title {ident}-desc">',
        f'<title id="{ident}-title">{escape(chart.title)}</title>',
        f'<desc id="{ident}-desc">{escape(chart.summary)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        *_axes(chart, top),
    ]
    if chart.labels:
        for index in range(len(chart.series)):
            parts.extend(_line(chart, index, top))
    parts.extend(_legend(chart))
    parts.append("</svg>")
    return "".join(parts)
