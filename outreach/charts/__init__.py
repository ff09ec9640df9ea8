"""Charts drawn on the server as accessible SVG: a title, a description, and the numbers beside them.

A ``Chart`` is data (labels along the bottom, one or more named series of whole numbers); ``to_svg``
draws it as a line chart that needs no script, no font download and no network, and every page that
shows one also prints the same numbers as a table (``Chart.rows``), so a screen reader, a printout and
a spreadsheet all get what the picture shows. Series differ in colour *and* dash pattern, never in
colour alone.

Why our own: the Python charting libraries draw for the screen (matplotlib turns text into paths;
pygal's SVG asks for a tooltip script from the web and carries no text alternative of its own); a
line chart is a few dozen lines of SVG.
"""

from outreach.charts.svg import Chart, Series, nice_ceiling, to_svg

__all__ = ["Chart", "Series", "nice_ceiling", "to_svg"]
