"""The scoreboard as a small SVG image (for the README): engines × features, coloured by status, with a legend.

Written by hand (no plotting library): one ``rect`` per cell, filled with its status's colour — a
``mixed`` cell split into its share of passes (green) and the rest (grey) — a purple border
where runs disagree on a case of the cell, and a legend below. Each cell's ``title`` gives its
counts and largest error (shown as a tooltip where the image is opened on its own). The colours
are the HTML page's.
"""

from __future__ import annotations

from html import escape

from rnn_ref.report.grid import COUNTED, FEATURES, Cell, Grid, error_text

COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "defect": "#ef8f00", "unsupported": "#9e9e9e", "empty": "#f5f5f5"}
CONFLICT_COLOUR = "#6a1b9a"
LEGEND = (("pass", "all pass"), ("mixed", "pass + unsupported"), ("defect", "known defect"), ("fail", "fail"),
          ("unsupported", "all unsupported"), ("empty", "no case"))
CELL, GAP, LEFT, TOP = 22, 2, 150, 104


def cell_title(cell: Cell) -> str:
    counts = cell.counts
    text = ", ".join(f"{counts[outcome]} {outcome}" for outcome in COUNTED if counts[outcome]) or "no case"
    return f"{cell.engine}, {cell.feature.label}: {text}; max error {error_text(cell.max_error)}"


def swatch(x: float, y: float, status: str, share: float = 0.5, size: float = CELL) -> list[str]:
    """The rects of one square of ``size`` at (x, y): its status's colour, or a mixed cell's two shares."""
    if status != "mixed":
        edge = ' stroke="#cccccc"' if status == "empty" else ""
        return [f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{COLOURS[status]}"{edge}/>']
    green = round(size * share, 1)
    return [f'<rect x="{x}" y="{y}" width="{size}" height="{size}" fill="{COLOURS["unsupported"]}"/>',
            f'<rect x="{x}" y="{y}" width="{green}" height="{size}" fill="{COLOURS["pass"]}"/>']


def render(grid: Grid, title: str = "rnn_ref scoreboard") -> str:
    """The image's SVG text."""
    columns, rows = len(FEATURES), len(grid.engines)
    width = LEFT + columns * (CELL + GAP) + 60  # room for the last heading, rotated
    legend_y = TOP + rows * (CELL + GAP) + 16
    height = legend_y + 2 * 20 + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f"<title>{escape(title)}</title>",
             f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
             f'<text x="6" y="16" font-size="13" font-weight="bold">{escape(title)}</text>']
    for column, feature in enumerate(FEATURES):
        x = LEFT + column * (CELL + GAP) + CELL / 2 + 4
        parts.append(f'<text transform="translate({x},{TOP - 4}) rotate(-60)">{escape(feature.label)}</text>')
    for row, engine in enumerate(grid.engines):
        y = TOP + row * (CELL + GAP)
        parts.append(f'<text x="{LEFT - 6}" y="{y + CELL * 0.7}" text-anchor="end">{escape(engine)}</text>')
        for column, feature in enumerate(FEATURES):
            cell = grid.cell(engine, feature.id)
            x = LEFT + column * (CELL + GAP)
            counts = cell.counts
            judged = counts["pass"] + counts["unsupported"]
            parts.append(f'<g class="cell" data-engine="{escape(engine)}" data-feature="{feature.id}" '
                         f'data-status="{cell.status}"><title>{escape(cell_title(cell))}</title>')
            parts += swatch(x, y, cell.status, counts["pass"] / judged if judged else 0.5)
            if cell.conflicts:
                parts.append(f'<rect x="{x + 1.5}" y="{y + 1.5}" width="{CELL - 3}" height="{CELL - 3}" fill="none" '
                             f'stroke="{CONFLICT_COLOUR}" stroke-width="3"/>')
            parts.append("</g>")
    for index, (status, text) in enumerate((*LEGEND, ("conflict", "runs disagree"))):
        x, y = 6 + (index % 4) * 150, legend_y + (index // 4) * 20
        if status == "conflict":
            parts.append(f'<rect x="{x + 1.5}" y="{y + 1.5}" width="11" height="11" fill="#ffffff" '
                         f'stroke="{CONFLICT_COLOUR}" stroke-width="3"/>')
        else:
            parts += swatch(x, y, status, size=14)
        parts.append(f'<text x="{x + 20}" y="{y + 11}">{escape(text)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
