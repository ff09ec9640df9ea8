"""Charts are SVG a screen reader can name and describe, with every value drawn and every text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from outreach.charts import Chart, Series, nice_ceiling, to_svg

SVG = "{http://www.w3.org/2000/svg}"


def chart(**changes: object) -> Chart:
    fields: dict[str, object] = {
        "key": "growth",
        "title": "Growth <this year> & last",
        "description": "People per week.",
        "labels": ("2 Mar", "9 Mar", "16 Mar"),
        "series": (Series("Sign-ups", (3, 0, 1250)), Series("Unsubscribes", (0, 1, 2))),
    }
    fields.update(changes)
    return Chart(**fields)  # type: ignore[arg-type]


def test_the_svg_is_titled_described_and_draws_every_value() -> None:
    root = ET.fromstring(to_svg(chart()))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "growth-title growth-desc"
    assert root.find(f"{SVG}title").text == "Growth <this year> & last"  # type: ignore[union-attr]
    assert root.find(f"{SVG}title").get("id") == "growth-title"  # type: ignore[union-attr]
    described = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert described == "People per week. In all: 1,253 sign-ups, 3 unsubscribes."
    groups = root.findall(f"{SVG}g")
    assert len(groups) == 2
    points = [[c.find(f"{SVG}title").text for c in g.findall(f"{SVG}circle")] for g in groups]  # type: ignore[union-attr]
    assert points[0] == ["2 Mar: 3 sign-ups", "9 Mar: 0 sign-ups", "16 Mar: 1,250 sign-ups"]
    assert points[1][1] == "9 Mar: 1 unsubscribes"
    dashes = [g.find(f"{SVG}polyline").get("stroke-dasharray") for g in groups]  # type: ignore[union-attr]
    assert dashes[0] != dashes[1]  # told apart by more than colour
    assert "style=" not in to_svg(chart()) and "<script" not in to_svg(chart())


def test_the_table_rows_hold_the_same_numbers() -> None:
    assert chart().rows == [("2 Mar", (3, 0)), ("9 Mar", (0, 1)), ("16 Mar", (1250, 2))]


def test_an_empty_chart_says_so_and_a_series_of_the_wrong_length_is_refused() -> None:
    empty = ET.fromstring(to_svg(chart(labels=(), series=(Series("Sign-ups", ()),))))
    assert empty.find(f"{SVG}desc").text == "People per week. Nothing to show yet."  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="has 2 values for 3"):
        chart(series=(Series("Sign-ups", (1, 2)),))


@pytest.mark.parametrize(
    ("highest", "top"), [(0, 4), (3, 4), (7, 8), (13, 20), (1250, 2000), (99_000, 100_000), (240, 400)]
)
def test_the_scale_ends_at_a_round_number(highest: int, top: int) -> None:
    assert nice_ceiling(highest) == top
