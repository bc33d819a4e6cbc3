"""Minimal SVG line charts for the rendered documents, written as text (no plotting library:
plotly's static export needs kaleido, which is not shipped). The output depends only on the
numbers given, so a committed chart can be checked against its artifact byte for byte.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

# Okabe-Ito: distinguishable with the common colour-vision deficiencies.
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
DASHES = ("", "6 3")  # alternate series also differ in stroke, not only in colour
WIDTH, PLOT_H = 560, 260
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 36, 44
LEGEND_ROW = 18


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi], about `count` of them."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError("chart values must be finite numbers")
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    raw = (hi - lo) / max(1, count - 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    v = first
    while v < hi + step * 0.999:
        ticks.append(round(v, 10))
        v += step
    return ticks


def _fmt(v: float) -> str:
    return f"{v:.1f}"


def _label(v: float) -> str:
    return f"{v:g}" if abs(v - round(v)) < 1e-9 else f"{v:.2f}".rstrip("0")


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    xs: list[float],
    series: list[tuple[str, list[float]]],
    reference: tuple[float, str] | None = None,
) -> str:
    """An SVG line chart: one polyline per series (label, ys over xs), a legend below, and an
    optional dashed horizontal reference line (value, label)."""
    if not xs or not series or any(len(ys) != len(xs) for _, ys in series):
        raise ValueError("every series needs one value per x")
    values = [v for _, ys in series for v in ys] + ([reference[0]] if reference else [])
    if not all(math.isfinite(v) for v in [*values, *xs]):
        raise ValueError("chart values must be finite numbers")
    yt = nice_ticks(min(values), max(values))
    xt = nice_ticks(min(xs), max(xs), len(xs)) if len(xs) > 11 else list(xs)
    x0, x1 = min(xs[0], xt[0]), max(xs[-1], xt[-1])
    x1 = x1 if x1 > x0 else x0 + 1
    height = TOP + PLOT_H + BOTTOM + LEGEND_ROW * len(series) + 8
    right = WIDTH - RIGHT

    def px(x: float) -> float:
        return LEFT + (x - x0) / (x1 - x0) * (right - LEFT)

    def py(y: float) -> float:
        return TOP + PLOT_H - (y - yt[0]) / (yt[-1] - yt[0]) * PLOT_H

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="{WIDTH / 2:.1f}" y="20" text-anchor="middle" font-size="14">'
        f"{escape(title)}</text>",
    ]
    bottom = TOP + PLOT_H
    for t in yt:
        out.append(
            f'<line x1="{LEFT}" y1="{_fmt(py(t))}" x2="{right}" y2="{_fmt(py(t))}" '
            'stroke="#dddddd"/>'
        )
        out.append(
            f'<text x="{LEFT - 6}" y="{_fmt(py(t) + 4)}" text-anchor="end">{_label(t)}</text>'
        )
    for t in xt:
        out.append(
            f'<text x="{_fmt(px(t))}" y="{bottom + 16}" text-anchor="middle">{_label(t)}</text>'
        )
    out.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333333"/>')
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#333333"/>')
    out.append(
        f'<text class="x-label" x="{(LEFT + right) / 2:.1f}" y="{bottom + 34}" '
        f'text-anchor="middle">{escape(x_label)}</text>'
    )
    mid = TOP + PLOT_H / 2
    out.append(
        f'<text class="y-label" x="16" y="{mid:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {mid:.1f})">{escape(y_label)}</text>'
    )
    if reference:
        y = _fmt(py(reference[0]))
        out.append(
            f'<line x1="{LEFT}" y1="{y}" x2="{right}" y2="{y}" stroke="#777777" '
            'stroke-dasharray="2 3"/>'
        )
        out.append(
            f'<text x="{right - 4}" y="{_fmt(py(reference[0]) - 4)}" text-anchor="end" '
            f'fill="#555555">{escape(reference[1])}</text>'
        )
    out += _lines(series, xs, px, py, bottom + BOTTOM)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _lines(series, xs, px, py, legend_top: float) -> list[str]:
    """Each series' polyline, and its legend entry below the plot."""
    out = []
    for i, (label, ys) in enumerate(series):
        colour, dash = COLOURS[i % len(COLOURS)], DASHES[i % len(DASHES)]
        style = f' stroke-dasharray="{dash}"' if dash else ""
        points = " ".join(f"{_fmt(px(x))},{_fmt(py(y))}" for x, y in zip(xs, ys, strict=True))
        out.append(
            f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2"{style} '
            f'points="{points}"><title>{escape(label)}</title></polyline>'
        )
        ly = legend_top + LEGEND_ROW * i + 4
        out.append(
            f'<line x1="{LEFT}" y1="{ly}" x2="{LEFT + 24}" y2="{ly}" stroke="{colour}" '
            f'stroke-width="2"{style}/>'
        )
        out.append(f'<text x="{LEFT + 30}" y="{ly + 4}">{escape(label)}</text>')
    return out
