"""Charts drawn on the server as inline SVG (no script, no CDN): bars, stacked bars, a heat map and lines."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _fmt(value: float) -> str:
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


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


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, unit: str, tick_every: int = 4) -> Markup:
    """Vertical bars, one per label; every *tick_every*-th label is written under the axis."""
    width, height, left, bottom, top = 720, 220, 40, 28, 10
    n = max(len(values), 1)
    top_value = _nice_max(max(values, default=0))
    plot_w, plot_h = width - left - 8, height - bottom - top
    slot = plot_w / n
    total = sum(values)
    out = _open(width, height, title, f"{len(values)} bars, total {_fmt(total)} {unit}", "bars")
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{_fmt(top_value * frac)}</text>'
        )
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        h = plot_h * value / top_value
        x = left + i * slot + slot * 0.1
        out.append(
            f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{slot * 0.8:.1f}" height="{h:.1f}">'
            f"<title>{escape(label)}: {_fmt(value)} {escape(unit)}</title></rect>"
        )
        if i % tick_every == 0:
            out.append(
                f'<text class="axis" x="{x + slot * 0.4:.1f}" y="{height - 10}" text-anchor="middle">{escape(label)}</text>'
            )
    out.append("</svg>")
    return Markup("".join(out))


def stacked_bars(
    labels: Sequence[str], parts: Sequence[tuple[float, float]], *, title: str, names: tuple[str, str]
) -> Markup:
    """Bars of two parts (share of each, 0..100 %), with a legend; sized for half a page."""
    width, height, left, bottom, top = 400, 240, 36, 44, 10
    n = max(len(parts), 1)
    plot_w, plot_h = width - left - 8, height - bottom - top
    slot = plot_w / n
    out = _open(width, height, title, f"{names[0]} and {names[1]} per period, as shares", "stacked")
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{frac * 100:.0f}%</text>')
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
        out.append(
            f'<text class="axis" x="{x + w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(label)}</text>'
        )
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


def heat_map(grid: Sequence[Sequence[int]], *, title: str) -> Markup:
    """Weekday rows × 24 hour columns; darker cells hold more plays."""
    cell, left, top = 16, 32, 16
    width, height = left + 24 * cell + 4, top + 7 * cell + 4
    peak = max((v for row in grid for v in row), default=0) or 1
    out = _open(width, height, title, f"plays by weekday and hour; busiest cell {plays(peak)}", "heat")
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


def line_chart(labels: Sequence[str], series: Sequence[Series], *, title: str) -> Markup:
    """Lines over time (gaps where a value is missing), with a legend; baselines are drawn dashed."""
    width, height, left, bottom, top = 720, 240, 48, 28, 10
    legend_h = 18 * ((len(series) + 2) // 3)
    height += legend_h
    n = max(len(labels), 1)
    plot_w, plot_h = width - left - 12, height - bottom - top - legend_h
    values = [v for s in series for v in s.values if v is not None]
    top_value = _nice_max(max(values, default=0.0))
    out = _open(width, height, title, f"{len(series)} series over {len(labels)} points", "lines")
    for frac in (0, 0.5, 1):
        y = top + plot_h * (1 - frac)
        out.append(f'<line class="grid" x1="{left}" x2="{width - 12}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">{top_value * frac:.3g}</text>')

    def x_of(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    step = max(1, n // 6)
    for i, label in enumerate(labels):
        if i % step == 0:
            out.append(
                f'<text class="axis" x="{x_of(i):.1f}" y="{top + plot_h + 16}" text-anchor="middle">{escape(label)}</text>'
            )
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
