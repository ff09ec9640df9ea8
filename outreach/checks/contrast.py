"""WCAG 2 contrast of the layout's colour pairs; 4.5:1 is the floor for body text."""

from __future__ import annotations

from outreach.config import Brand
from outreach.models import Finding, Severity

MINIMUM = 4.5

# (foreground, background, where readers see it)
PAIRS = (
    ("text", "body_background", "body text"),
    ("heading", "body_background", "headings"),
    ("link", "body_background", "links"),
    ("button_text", "button_background", "button labels"),
    ("callout_text", "callout_background", "callouts and event cards"),
    ("link", "callout_background", "links in callouts"),
    ("header_text", "header_background", "the header band (and the logo's alt text when images are off)"),
    ("footer_text", "footer_background", "the footer"),
    ("dark_text", "dark_background", "body text in dark mode"),
    ("dark_link", "dark_background", "links in dark mode"),
)


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    red, green, blue = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(red) + 0.7152 * _channel(green) + 0.0722 * _channel(blue)


def contrast_ratio(foreground: str, background: str) -> float:
    first, second = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (first + 0.05) / (second + 0.05)


def check_contrast(brand: Brand, config_path: str) -> list[Finding]:
    findings = []
    for fore, back, where in PAIRS:
        ratio = contrast_ratio(getattr(brand, fore), getattr(brand, back))
        if ratio < MINIMUM:
            findings.append(
                Finding(
                    "contrast",
                    Severity.ERROR,
                    f"{where}: [brand] {fore} {getattr(brand, fore)} on {back} {getattr(brand, back)} "
                    f"has contrast {ratio:.2f}:1, below {MINIMUM}:1; "
                    "darken the text or lighten the background",
                    config_path,
                )
            )
    return findings
