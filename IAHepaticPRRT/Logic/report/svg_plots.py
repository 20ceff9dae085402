"""Small self-contained SVG charts for the HTML report (no plotting library needed).

Each function returns an ``<svg>`` element as text, sized in CSS pixels, with axis titles that
carry units. Values that are missing or non-finite are left out of the drawing, never drawn as 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

#: Seven colours told apart with the common colour-vision deficiencies (Okabe and Ito, "Color Universal
#: Design", 2008; yellow left out, unreadable on white).
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
#: Dash patterns (SVG stroke-dasharray); with seven colours, 28 curves each get their own pair.
DASHES = ["", "7 3", "2 2", "9 3 2 3"]


def line_style(index: int) -> tuple[str, str]:
    """The colour and dash of the ``index``-th curve of a chart: no two of the first 28 alike."""
    return PALETTE[index % len(PALETTE)], DASHES[index % len(DASHES)]


@dataclass
class Series:
    name: str
    x: list[float]
    y: list[float]
    color: str | None = None
    markers: bool = True
    line: bool = True
    dashed: bool = False
    dash: str | None = None  # an explicit stroke-dasharray (wins over ``dashed``)
    error: list[float] | None = None
    in_legend: bool = True


@dataclass
class Frame:
    """Plot area and axis ranges; maps data to pixels."""

    width: int = 640
    height: int = 360
    left: int = 70
    right: int = 20
    top: int = 30
    bottom: int = 60
    x_range: tuple[float, float] = (0.0, 1.0)
    y_range: tuple[float, float] = (0.0, 1.0)
    y_log: bool = False
    elements: list[str] = field(default_factory=list)

    def px(self, x: float) -> float:
        lo, hi = self.x_range
        return self.left + (x - lo) / (hi - lo) * (self.width - self.left - self.right)

    def py(self, y: float) -> float:
        lo, hi = self.y_range
        if self.y_log:
            y, lo, hi = math.log10(y), math.log10(lo), math.log10(hi)
        return self.height - self.bottom - (y - lo) / (hi - lo) * (self.height - self.top - self.bottom)


def _finite(*values) -> bool:
    return all(v is not None and isinstance(v, (int, float)) and math.isfinite(v) for v in values)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = min((m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw), default=10 * magnitude)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + 1e-9 * step:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _format(value: float) -> str:
    """A tick label in plain decimals (1000, 0.001), never with an exponent."""
    if value == 0:
        return "0"
    text = f"{round(value, 10):.10f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"


def _axes(frame: Frame, title: str, x_title: str, y_title: str, x_ticks=None, x_labels=None) -> list[str]:
    out = []
    x0, x1 = frame.left, frame.width - frame.right
    y0, y1 = frame.height - frame.bottom, frame.top
    out.append(f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="white" stroke="#888"/>')
    if frame.y_log:
        lo, hi = frame.y_range
        y_ticks = [10 ** e for e in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
                   if lo <= 10 ** e <= hi]
    else:
        y_ticks = nice_ticks(*frame.y_range)
    for t in y_ticks:
        y = frame.py(t)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x1}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">{_format(t)}</text>')
    if x_labels is not None:
        for position, label in zip(x_ticks, x_labels):
            x = frame.px(position)
            out.append(f'<text x="{x:.1f}" y="{y0 + 14}" text-anchor="end" font-size="11" '
                       f'transform="rotate(-30 {x:.1f} {y0 + 14})">{escape(str(label))}</text>')
    else:
        for t in x_ticks if x_ticks is not None else nice_ticks(*frame.x_range):
            x = frame.px(t)
            out.append(f'<line x1="{x:.1f}" y1="{y0}" x2="{x:.1f}" y2="{y0 + 4}" stroke="#888"/>')
            out.append(f'<text x="{x:.1f}" y="{y0 + 16}" text-anchor="middle" font-size="11">{_format(t)}</text>')
    out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{frame.height - 8}" text-anchor="middle" font-size="12">'
               f'{escape(x_title)}</text>')
    out.append(f'<text x="14" y="{(y0 + y1) / 2:.1f}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 14 {(y0 + y1) / 2:.1f})">{escape(y_title)}</text>')
    out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="18" text-anchor="middle" font-size="13" font-weight="bold">'
               f'{escape(title)}</text>')
    return out


def _legend(frame: Frame, entries: list[tuple], outside: bool = False) -> list[str]:
    """One row per entry: (name, colour) draws a swatch; (name, colour, dash) a line sample drawn
    with the curve's own colour and dash, so the legend matches the curve."""
    out = []
    x = frame.width - frame.right + 10 if outside else frame.width - frame.right - 150
    for index, entry in enumerate(entries):
        name, color = entry[0], entry[1]
        y = frame.top + 14 + 16 * index
        if len(entry) > 2:
            dash = f' stroke-dasharray="{entry[2]}"' if entry[2] else ""
            out.append(f'<line x1="{x}" y1="{y - 4}" x2="{x + 24}" y2="{y - 4}" stroke="{color}" '
                       f'stroke-width="2.2"{dash}/>')
            out.append(f'<text x="{x + 28}" y="{y}" font-size="11">{escape(name)}</text>')
        else:
            out.append(f'<rect x="{x}" y="{y - 9}" width="10" height="10" fill="{color}"/>')
            out.append(f'<text x="{x + 14}" y="{y}" font-size="11">{escape(name)}</text>')
    return out


def _horizontal_lines(frame: Frame, lines: list[tuple[float, str]] | None) -> list[str]:
    """Dashed reference lines across the plot area (a limit, a threshold), each labelled above its left end."""
    out = []
    for value, label in lines or []:
        y = frame.py(value)
        out.append(f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.width - frame.right}" y2="{y:.1f}" '
                   f'stroke="#333" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{frame.left + 4}" y="{y - 4:.1f}" font-size="11">{escape(label)}</text>')
    return out


def _svg(frame: Frame, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
            f'width="{frame.width}" height="{frame.height}" viewBox="0 0 {frame.width} {frame.height}" '
            f'font-family="Helvetica, Arial, sans-serif">' + "".join(body) + "</svg>")


def grouped_bar_chart(categories: list[str], groups: dict[str, list[float | None]], title: str, y_title: str,
                      reference_line: float | None = None, reference_label: str = "",
                      width: int = 720, height: int = 380) -> str:
    """Bars per category, one bar per group (e.g. intra-arterial and intravenous SUVmax per VOI)."""
    values = [v for vs in groups.values() for v in vs if _finite(v)]
    top = max(values + ([reference_line] if reference_line else []) + [1e-12]) * 1.12
    frame = Frame(width=width, height=height, bottom=90, x_range=(0, max(len(categories), 1)), y_range=(0, top))
    body = _axes(frame, title, "", y_title, [i + 0.5 for i in range(len(categories))], categories)
    n = max(len(groups), 1)
    slot = (frame.px(1) - frame.px(0)) * 0.8
    colors = []
    for g, (name, vs) in enumerate(groups.items()):
        color = PALETTE[g % len(PALETTE)]
        colors.append((name, color))
        for i, v in enumerate(vs):
            if not _finite(v):
                continue
            x = frame.px(i) + (frame.px(1) - frame.px(0)) * 0.1 + slot * g / n
            y = frame.py(v)
            body.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot / n - 1:.1f}" '
                        f'height="{frame.py(0) - y:.1f}" fill="{color}"><title>{escape(name)} '
                        f'{escape(categories[i])}: {v:.3g}</title></rect>')
    if reference_line is not None:
        y = frame.py(reference_line)
        body.append(f'<line x1="{frame.left}" y1="{y:.1f}" x2="{frame.width - frame.right}" y2="{y:.1f}" '
                    f'stroke="#333" stroke-dasharray="6 4"/>')
        body.append(f'<text x="{frame.left + 4}" y="{y - 4:.1f}" font-size="11">{escape(reference_label)}</text>')
    body += _legend(frame, colors)
    return _svg(frame, body, title)


def line_chart(series: list[Series], title: str, x_title: str, y_title: str, y_log: bool = False,
               x_min: float | None = None, width: int = 640, height: int = 360,
               horizontal_lines: list[tuple[float, str]] | None = None, x_max: float | None = None) -> str:
    """Points and/or lines per series (time-activity curves with fits, dose-volume histograms).
    With ``x_max``, the axis ends there and each curve is drawn up to it."""
    if x_max is not None:
        series = [Series(s.name, [x for x in s.x if _finite(x) and x <= x_max],
                         [y for x, y in zip(s.x, s.y) if _finite(x) and x <= x_max], s.color, s.markers, s.line,
                         s.dashed, s.dash, s.error, s.in_legend) for s in series]
    xs = [x for s in series for x, y in zip(s.x, s.y) if _finite(x, y) and (not y_log or y > 0)]
    ys = [y for s in series for x, y in zip(s.x, s.y) if _finite(x, y) and (not y_log or y > 0)]
    if not xs:
        xs, ys = [0.0, 1.0], [1.0, 2.0]
    lo_x = min(xs) if x_min is None else x_min
    hi_x = x_max if x_max is not None else (max(xs) if max(xs) > lo_x else lo_x + 1.0)
    extra = [v for v, _ in (horizontal_lines or [])]
    if y_log:
        lo_y = 10 ** math.floor(math.log10(min(ys)))
        hi_y = 10 ** math.ceil(math.log10(max(ys + extra)))
    else:
        lo_y, hi_y = 0.0, max(ys + extra) * 1.08 or 1.0
    # The legend goes to the right of the plot area, where it cannot hide a curve.
    frame = Frame(width=width, height=height, right=150, x_range=(lo_x, hi_x), y_range=(lo_y, hi_y), y_log=y_log)
    body = _axes(frame, title, x_title, y_title)
    legend = []
    for index, s in enumerate(series):
        color = s.color or PALETTE[index % len(PALETTE)]
        dash_pattern = s.dash if s.dash is not None else ("5 3" if s.dashed else "")
        if s.in_legend:
            legend.append((s.name, color, dash_pattern) if s.line else (s.name, color))
        points = [(frame.px(x), frame.py(y)) for x, y in zip(s.x, s.y) if _finite(x, y) and (not y_log or y > 0)]
        if s.line and len(points) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            dash = f' stroke-dasharray="{dash_pattern}"' if dash_pattern else ""
            body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8"{dash}>'
                        f'<title>{escape(s.name)}</title></polyline>')
        if s.markers:
            for (x, y), raw_y, err in zip(points, s.y, s.error or [None] * len(points)):
                if _finite(err) and err > 0:
                    y_hi, y_lo = frame.py(raw_y + err), frame.py(max(raw_y - err, lo_y if y_log else raw_y - err))
                    body.append(f'<line x1="{x:.1f}" y1="{y_hi:.1f}" x2="{x:.1f}" y2="{y_lo:.1f}" stroke="{color}"/>')
                body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{color}"/>')
    body += _horizontal_lines(frame, horizontal_lines)
    body += _legend(frame, legend[:18], outside=True)
    return _svg(frame, body, title)
