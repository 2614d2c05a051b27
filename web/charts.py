"""Charts drawn on the server as inline SVG (no script, no CDN): bars, stacked bars, a heat map and lines."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def fmt(value: float) -> str:
    """Whole numbers (and anything from 100 up) with thousands separators, one decimal from 1, two significant digits
    under 1: 12.5 stays 12.5 (an axis's half-way mark), 0.25 stays 0.25."""
    if value == int(value) or value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}" if value >= 1 else f"{value:.2g}"


Ticks = Sequence[tuple[int, str]]  # (bar index, label written under it; a newline starts a second line)


def _label(x: float, y: float, text: str, anchor: str = "middle") -> str:
    """An axis label under a bar, one line per line of *text*."""
    lines = text.split("\n")
    if len(lines) == 1:
        return f'<text class="axis" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'
    spans = "".join(
        f'<tspan x="{x:.1f}" dy="{0 if k == 0 else 12}">{escape(line)}</tspan>' for k, line in enumerate(lines)
    )
    return f'<text class="axis" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{spans}</text>'


def month_ticks(starts: Sequence[date], most: int) -> list[tuple[int, str]]:
    """Ticks for bars starting on *starts* (weeks or months): the first bar of a month, "Jan" with the year under it
    on the first tick and each January; every 1, 2, 3, 6 or 12 months (aligned on January) so at most *most* show.
    """
    firsts = [
        i for i, d in enumerate(starts) if i == 0 or (d.year, d.month) != (starts[i - 1].year, starts[i - 1].month)
    ]
    if starts and len(starts) > 1 and starts[0].day > 7 and len(firsts) > 1:
        firsts = firsts[1:]  # the first bar is the tail of a month: its label would name a month mostly not shown
    step = next((k for k in (1, 2, 3, 6, 12) if len(firsts) / k <= most), 12)
    chosen = [i for i in firsts if (starts[i].month - 1) % step == 0]
    if step == 12 and len(chosen) > most:
        every = -(-len(chosen) // most)
        chosen = chosen[::every]
    out = []
    for k, i in enumerate(chosen):
        d = starts[i]
        out.append((i, f"{d:%b}\n{d:%Y}" if k == 0 or d.month == 1 or step == 12 else f"{d:%b}"))
    return out


def _nice_max(value: float) -> float:
    """A round upper bound for an axis (1, 2, 2.5, 5 × 10^n)."""
    if value <= 0:
        return 1.0
    magnitude = 10.0 ** math.floor(math.log10(value))
    for step in (1.0, 2.0, 2.5, 5.0, 10.0):
        if value <= step * magnitude * (1 + 1e-9):
            return step * magnitude
    return 10.0 * magnitude  # pragma: no cover


def _open(width: int, height: int, title: str, desc: str, css: str) -> list[str]:
    t = escape(title)
    return [
        f'<svg class="chart {css}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{t}" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{t}</title><desc>{escape(desc)}</desc>",
    ]


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    unit: str,
    tick_every: int = 4,
    ticks: Ticks | None = None,
    width: int = 720,
    summary: str | None = None,
) -> Markup:
    """Vertical bars, one per label; *ticks* (or every *tick_every*-th label) are written under the axis.

    *width* is the drawing's own width: a narrow one (360) is drawn for phones, so its text stays readable.
    """
    height, left, bottom, top = 234, 40, 40, 10
    n = max(len(values), 1)
    top_value = _nice_max(max(values, default=0))
    plot_w, plot_h = width - left - 8, height - bottom - top
    slot = plot_w / n
    total = sum(values)
    desc = summary or f"{len(values)} bars, total {fmt(total)} {unit}"
    out = _open(width, height, title, desc, "bars")
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{fmt(top_value * frac)}</text>'
        )
    marks = dict(ticks) if ticks is not None else {i: label for i, label in enumerate(labels) if i % tick_every == 0}
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top_value
        x = left + i * slot + slot * 0.1
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {fmt(value)} {escape(unit)}</title></rect>"
        )
        if i in marks:
            anchor = "start" if i == 0 and n > 4 else "middle"
            out.append(_label(x if anchor == "start" else x + slot * 0.4, top + plot_h + 15, marks[i], anchor))
    out.append("</svg>")
    return Markup("".join(out))


def stacked_bars(
    labels: Sequence[str],
    parts: Sequence[tuple[float, float]],
    *,
    title: str,
    names: tuple[str, str],
    ticks: Ticks | None = None,
    width: int = 400,
    summary: str | None = None,
) -> Markup:
    """Bars of two parts (share of each, 0..100 %), with a legend; sized for half a page.

    Every label is written under its bar unless *ticks* choose which (and what they say).
    """
    height, left, bottom, top = 250, 36, 54, 10
    n = max(len(parts), 1)
    plot_w, plot_h = width - left - 8, height - bottom - top
    slot = plot_w / n
    desc = summary or f"{names[0]} and {names[1]} per period, as shares"
    out = _open(width, height, title, desc, "stacked")
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{frac * 100:.0f}%</text>')
    marks = dict(ticks) if ticks is not None else dict(enumerate(labels))
    for i, (label, (a, b)) in enumerate(zip(labels, parts, strict=True)):
        total = a + b
        x = left + i * slot + slot * 0.12
        w = slot * 0.76
        if total:
            ha = plot_h * a / total
            out.append(
                f'<rect class="part-a" x="{x:.1f}" y="{top + plot_h - ha:.1f}" width="{w:.1f}" height="{ha:.1f}">'
                f"<title>{escape(label)}: {a / total:.0%} {escape(names[0])}</title></rect>"
            )
            out.append(
                f'<rect class="part-b" x="{x:.1f}" y="{top:.1f}" width="{w:.1f}" height="{plot_h - ha:.1f}">'
                f"<title>{escape(label)}: {b / total:.0%} {escape(names[1])}</title></rect>"
            )
        if i in marks:
            out.append(_label(x + w / 2, top + plot_h + 14, marks[i]))
    ly = height - 8
    out.append(f'<rect class="part-a" x="{left}" y="{ly - 9}" width="10" height="10"/>')
    out.append(f'<text class="axis" x="{left + 14}" y="{ly}">{escape(names[0])}</text>')
    out.append(f'<rect class="part-b" x="{left + 130}" y="{ly - 9}" width="10" height="10"/>')
    out.append(f'<text class="axis" x="{left + 144}" y="{ly}">{escape(names[1])}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def plays(n: int) -> str:
    """ "1 play", "2 plays", "1,234 plays"."""
    return f"{n:,} play{'s' if n != 1 else ''}"


def heat_map(grid: Sequence[Sequence[int]], *, title: str, summary: str | None = None) -> Markup:
    """Weekday rows × 24 hour columns; darker cells hold more plays. Narrow enough (370) to fit a phone whole."""
    cell, left, top = 14, 30, 16
    width, height = left + 24 * cell + 4, top + 7 * cell + 4
    peak = max((v for row in grid for v in row), default=0) or 1
    out = _open(width, height, title, summary or f"plays by weekday and hour; busiest cell {plays(peak)}", "heat")
    for h in range(0, 24, 3):
        out.append(f'<text class="axis" x="{left + h * cell + cell / 2}" y="11" text-anchor="middle">{h:02d}</text>')
    for d, row in enumerate(grid):
        y = top + d * cell
        out.append(f'<text class="axis" x="{left - 4}" y="{y + cell / 2 + 3}" text-anchor="end">{WEEKDAYS[d]}</text>')
        for h, value in enumerate(row):
            level = 0 if value == 0 else 1 + min(4, int(4 * value / peak))
            out.append(
                f'<rect class="heat-{level}" x="{left + h * cell + 1}" y="{y + 1}" width="{cell - 2}" '
                f'height="{cell - 2}" rx="2"><title>{WEEKDAYS[d]} {h:02d}:00 — {plays(value)}</title></rect>'
            )
    out.append("</svg>")
    return Markup("".join(out))


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    dashed: bool = False


def line_chart(
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    title: str,
    ticks: Ticks | None = None,
    summary: str | None = None,
) -> Markup:
    """Lines over time (gaps where a value is missing), with a legend; baselines are drawn dashed.

    *labels* name each point in its tooltip; *ticks* (index, text) are written under the axis (by default about
    six of the labels).
    """
    width, height, left, bottom, top = 720, 252, 48, 40, 10
    legend_h = 18 * ((len(series) + 2) // 3)
    height += legend_h
    n = max(len(labels), 1)
    plot_w, plot_h = width - left - 12, height - bottom - top - legend_h
    values = [v for s in series for v in s.values if v is not None]
    top_value = _nice_max(max(values, default=0.0))
    out = _open(width, height, title, summary or f"{len(series)} series over {len(labels)} points", "lines")
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 12}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{top_value * frac:.3g}</text>')

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    step = max(1, n // 6)
    marks = dict(ticks) if ticks is not None else {i: label for i, label in enumerate(labels) if i % step == 0}
    for i, text in sorted(marks.items()):
        anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
        out.append(_label(x_of(i), top + plot_h + 16, text, anchor))
    for k, s in enumerate(series):
        css = f"series-{k % 6}" + (" dashed" if s.dashed else "")
        path: list[str] = []
        pen_up = True
        for i, v in enumerate(s.values):
            if v is None:
                pen_up = True
                continue
            y = top + plot_h * (1 - v / top_value)
            path.append(f"{'M' if pen_up else 'L'}{x_of(i):.1f},{y:.1f}")
            pen_up = False
            out.append(
                f'<circle class="{css}" cx="{x_of(i):.1f}" cy="{y:.1f}" r="3">'
                f"<title>{escape(s.name)} {escape(labels[i])}: {v:.4g}</title></circle>"
            )
        if path:
            out.append(f'<path class="{css}" d="{" ".join(path)}"/>')
        lx = left + (k % 3) * 220
        ly = height - legend_h + 14 + 18 * (k // 3)
        out.append(f'<line class="{css}" x1="{lx}" x2="{lx + 22}" y1="{ly - 4}" y2="{ly - 4}"/>')
        out.append(f'<text class="axis" x="{lx + 28}" y="{ly}">{escape(s.name)}</text>')
    out.append("</svg>")
    return Markup("".join(out))
