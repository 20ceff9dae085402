"""SVG charts of the cohort report (no plotting library): a forest plot of the patients' mean
enhancement ratios on a logarithmic ratio axis, a strip plot of per-VOI absorbed doses by VOI role,
and a log-log scatter of delivered against predicted lesion doses with the identity line.

The pixel mapping is :class:`~iahepaticprrt.report.svg_plots.Frame`'s; a logarithmic x axis is a
Frame whose x range is in log10 units. Numbers are drawn as given, never recomputed; missing,
non-finite and (on a logarithmic axis) non-positive values are left out of the drawing, never
drawn as 0 or clipped silently. Elements a reader (or a test) looks for carry a class: ``x-tick`` /
``y-tick`` (tick labels, their text the tick's value), ``interval``, ``estimate``, ``threshold``,
``reference``, ``median``, ``point``, ``identity``, ``agreement``, ``legend``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

from .formatting import significant
from .svg_plots import PALETTE, Frame

#: Marker shapes; with the palette's 10 colours, 50 patients get distinct colour-and-marker pairs.
MARKERS = ("circle", "square", "triangle", "diamond", "triangle-down")

#: Forest plot colours: eligible, not eligible, undecided, cohort estimates.
ELIGIBLE_COLOR, NOT_ELIGIBLE_COLOR, UNDECIDED_COLOR, COHORT_COLOR = "#1e8449", "#c0392b", "#7f8c8d", "#1b2631"

#: Tick multipliers per decade, from the sparsest (see :func:`log_ticks`).
_LADDERS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.0))


def format_number(value, digits: int = 3) -> str:
    """``value`` to ``digits`` significant digits in plain decimal notation, never an exponent
    (1234 -> "1230", 0.000123 -> "0.000123", 3.0 -> "3.00"); "–" when missing, not a number or not
    finite. The patient report's rule (:func:`formatting.significant`), so both reports agree."""
    if isinstance(value, bool) or not _finite(value):
        return "–"
    return significant(value, digits)


def format_plain(value) -> str:
    """A round value (a tick, a threshold, a confidence level) with no needless digits and no exponent:
    3.0 -> "3", 0.5 -> "0.5", 1500.0 -> "1500"."""
    if not _finite(value):
        return "–"
    text = f"{float(value):.12f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


def _finite(*values) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values)


def _positive(*values) -> bool:
    return _finite(*values) and all(v > 0 for v in values)


def log_ticks(lo: float, hi: float, most: int = 9) -> list[float]:
    """Round tick values in [lo, hi] (0 < lo < hi): the densest of 1 / 1-2-5 / 1-2-3-5 /
    1-1.5-2-3-4-5-7 per decade that gives at most ``most`` ticks (1 per decade over a very wide range)."""
    chosen: list[float] = []
    for ladder in _LADDERS:
        ticks = sorted({round(m * 10.0 ** e, 12) for e in range(math.floor(math.log10(lo)) - 1,
                                                                 math.ceil(math.log10(hi)) + 1)
                        for m in ladder if lo <= round(m * 10.0 ** e, 12) <= hi})
        if len(ticks) > most and chosen:
            break
        chosen = ticks
    return chosen


def _round_125(value: float, up: bool) -> float:
    """The nearest 1-2-5 value (1, 2, 5, 10, 20, ...) at or above (``up``) or at or below ``value`` > 0."""
    exponent = math.floor(math.log10(value))
    candidates = [round(m * 10.0 ** e, 12) for e in (exponent - 1, exponent, exponent + 1) for m in (1.0, 2.0, 5.0)]
    return min(c for c in candidates if c >= value * (1 - 1e-12)) if up else \
        max(c for c in candidates if c <= value * (1 + 1e-12))


def log_range(values, pad: float = 1.1) -> tuple[float, float]:
    """A logarithmic axis range around the positive finite ``values``, padded by the factor ``pad`` on
    each side and widened to 1-2-5 values, so that both ends are round ticks."""
    values = [v for v in values if _positive(v)] or [1.0]
    return _round_125(min(values) / pad, up=False), _round_125(max(values) * pad, up=True)


def patient_styles(patient_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Each patient's (colour, marker), in the given order: the same in every chart of the report."""
    return {pid: (PALETTE[i % len(PALETTE)], MARKERS[(i // len(PALETTE)) % len(MARKERS)])
            for i, pid in enumerate(patient_ids)}


def marker(shape: str, x: float, y: float, color: str, size: float = 4.5, filled: bool = True,
           css_class: str = "point", title: str = "", attributes: str = "") -> str:
    """One marker centred on (x, y); ``title`` is its tooltip."""
    fill = color if filled else "white"
    common = f'class="{css_class}" fill="{fill}" stroke="{color}" stroke-width="{1.2 if filled else 2}"{attributes}'
    s = size
    if shape == "square":
        element = f'<rect x="{x - s:.1f}" y="{y - s:.1f}" width="{2 * s:.1f}" height="{2 * s:.1f}" {common}'
    elif shape == "diamond":
        element = (f'<polygon points="{x:.1f},{y - 1.3 * s:.1f} {x + 1.3 * s:.1f},{y:.1f} {x:.1f},{y + 1.3 * s:.1f} '
                   f'{x - 1.3 * s:.1f},{y:.1f}" {common}')
    elif shape in ("triangle", "triangle-down"):
        sign = 1 if shape == "triangle" else -1
        element = (f'<polygon points="{x:.1f},{y - sign * 1.2 * s:.1f} {x + 1.1 * s:.1f},{y + sign * 0.8 * s:.1f} '
                   f'{x - 1.1 * s:.1f},{y + sign * 0.8 * s:.1f}" {common}')
    else:
        element = f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{s:.1f}" {common}'
    if title:
        return f"{element}><title>{escape(title)}</title></{element.split()[0][1:]}>"
    return element + "/>"


def _svg(width: int, height: int, body: list[str], label: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif">'
            + "".join(body) + "</svg>")


def _legend(x: float, y: float, entries: list[tuple[str, str, str, bool]]) -> list[str]:
    """Legend rows (label, colour, marker, filled) from (x, y) down."""
    out = ['<g class="legend">']
    for index, (label, color, shape, filled) in enumerate(entries):
        row_y = y + 16 * index
        out.append(marker(shape, x + 5, row_y - 4, color, 4.0, filled, css_class="legend-marker"))
        out.append(f'<text x="{x + 14}" y="{row_y:.1f}" font-size="11">{escape(label)}</text>')
    out.append("</g>")
    return out


def _title(frame: Frame, title: str) -> str:
    return (f'<text x="{(frame.left + frame.width - frame.right) / 2:.1f}" y="18" text-anchor="middle" '
            f'font-size="13" font-weight="bold">{escape(title)}</text>')


def _log_x(frame: Frame, value: float) -> float:
    """Pixel of ``value`` on a logarithmic x axis (the frame's x range is in log10 units)."""
    return frame.px(math.log10(value))


def _x_log_axis(frame: Frame, lo: float, hi: float, title: str) -> list[str]:
    bottom = frame.height - frame.bottom
    out = []
    for tick in log_ticks(lo, hi):
        x = _log_x(frame, tick)
        out.append(f'<line x1="{x:.1f}" y1="{frame.top}" x2="{x:.1f}" y2="{bottom}" stroke="#ececec"/>')
        out.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#888"/>')
        out.append(f'<text class="x-tick" x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" font-size="11">'
                   f"{format_plain(tick)}</text>")
    out.append(f'<text x="{(frame.left + frame.width - frame.right) / 2:.1f}" y="{bottom + 34}" '
               f'text-anchor="middle" font-size="12">{escape(title)}</text>')
    return out


def _y_log_axis(frame: Frame, lo: float, hi: float, title: str) -> list[str]:
    right = frame.width - frame.right
    out = []
    for tick in log_ticks(lo, hi):
        y = frame.py(tick)
        out.append(f'<line x1="{frame.left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#ececec"/>')
        out.append(f'<text class="y-tick" x="{frame.left - 6}" y="{y:.1f}" text-anchor="end" '
                   f'dominant-baseline="central" font-size="11">{format_plain(tick)}</text>')
    middle = (frame.top + frame.height - frame.bottom) / 2
    out.append(f'<text x="14" y="{middle:.1f}" text-anchor="middle" font-size="12" '
               f'transform="rotate(-90 14 {middle:.1f})">{escape(title)}</text>')
    return out


def _box(frame: Frame) -> str:
    return (f'<rect x="{frame.left}" y="{frame.top}" width="{frame.width - frame.left - frame.right}" '
            f'height="{frame.height - frame.top - frame.bottom}" fill="none" stroke="#888"/>')


# ---- forest plot ------------------------------------------------------------------------------------
@dataclass
class ForestRow:
    """One row: a patient (``kind`` eligible, not_eligible or undecided; ``borderline`` marks it) or a
    cohort estimate (``kind`` cohort)."""

    label: str
    estimate: float | None
    low: float | None = None
    high: float | None = None
    kind: str = "undecided"
    borderline: bool = False
    tooltip: str = ""


_FOREST_COLORS = {"eligible": ELIGIBLE_COLOR, "not_eligible": NOT_ELIGIBLE_COLOR, "undecided": UNDECIDED_COLOR,
                  "cohort": COHORT_COLOR}


def forest_plot(rows: list[ForestRow], thresholds: list[float], title: str, x_title: str,
                x_range: tuple[float, float] | None = None, reference: float | None = 1.0,
                width: int = 800, left: int = 170, right: int = 250, row_height: int = 22) -> str:
    """Each row's estimate and interval on a logarithmic ratio axis, the thresholds as labelled
    vertical lines, ``reference`` (ratio 1: no difference between the routes) as a grey line.
    Cohort rows come last, below a separator, drawn as diamonds."""
    patients = [r for r in rows if r.kind != "cohort"]
    cohort = [r for r in rows if r.kind == "cohort"]
    ordered = patients + cohort
    if x_range is None:
        values = [v for r in ordered for v in (r.estimate, r.low, r.high)] + list(thresholds)
        if reference is not None:
            values.append(reference)
        x_range = log_range(values)
    lo, hi = x_range
    top, bottom = 40, 50
    height = top + bottom + row_height * max(len(ordered), 1) + (8 if cohort else 0)
    frame = Frame(width=width, height=height, left=left, right=right, top=top, bottom=bottom,
                  x_range=(math.log10(lo), math.log10(hi)))
    body = [_box(frame), *_x_log_axis(frame, lo, hi, x_title), _title(frame, title)]
    plot_bottom = height - bottom
    if reference is not None and lo <= reference <= hi:
        x = _log_x(frame, reference)
        body.append(f'<line class="reference" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{plot_bottom}" '
                    f'stroke="#999" stroke-width="1"/>')
    for threshold in thresholds:
        if not (_positive(threshold) and lo <= threshold <= hi):
            continue
        x = _log_x(frame, threshold)
        body.append(f'<line class="threshold" data-value="{format_plain(threshold)}" x1="{x:.1f}" y1="{top}" '
                    f'x2="{x:.1f}" y2="{plot_bottom}" stroke="#333" stroke-width="1.5" stroke-dasharray="6 4"/>')
        body.append(f'<text class="threshold-label" x="{x:.1f}" y="{top - 5}" text-anchor="middle" font-size="11">'
                    f"threshold {format_plain(threshold)}</text>")
    for index, row in enumerate(ordered):
        y = top + row_height * (index + 0.5) + (8 if row.kind == "cohort" else 0)
        color = _FOREST_COLORS.get(row.kind, UNDECIDED_COLOR)
        weight = ' font-weight="bold"' if row.kind == "cohort" else ""
        body.append(f'<text class="row-label" x="{left - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="11"{weight}>'
                    f"{escape(row.label)}</text>")
        if _positive(row.low, row.high):
            x1, x2 = _log_x(frame, max(row.low, lo)), _log_x(frame, min(row.high, hi))
            body.append(f'<line class="interval" data-row="{escape(row.label)}" x1="{x1:.1f}" y1="{y:.1f}" '
                        f'x2="{x2:.1f}" y2="{y:.1f}" stroke="{color}" stroke-width="2"/>')
            for end, x in ((row.low, x1), (row.high, x2)):
                if lo <= end <= hi:  # a cap only where the interval really ends
                    body.append(f'<line x1="{x:.1f}" y1="{y - 4:.1f}" x2="{x:.1f}" y2="{y + 4:.1f}" stroke="{color}" '
                                'stroke-width="1.5"/>')
        if _positive(row.estimate) and lo <= row.estimate <= hi:
            shape = "diamond" if row.kind == "cohort" else "square"
            body.append(marker(shape, _log_x(frame, row.estimate), y, color, 5.0, filled=not row.borderline,
                               css_class="estimate", title=row.tooltip or row.label,
                               attributes=f' data-row="{escape(row.label)}"'))
        if row.borderline:
            body.append(f'<text class="borderline" x="{width - right + 8}" y="{y + 4:.1f}" font-size="11" '
                        f'fill="{color}">borderline</text>')  # before the legend, which starts 75 px further
    if cohort:
        y = top + row_height * len(patients) + 4
        body.append(f'<line x1="{8}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#555"/>')
    legend = [("eligible", ELIGIBLE_COLOR, "square", True), ("not eligible", NOT_ELIGIBLE_COLOR, "square", True),
              ("borderline: open marker", UNDECIDED_COLOR, "square", False)]
    if any(r.kind == "undecided" for r in patients):
        legend.append(("no decision", UNDECIDED_COLOR, "square", True))
    if cohort:
        legend.append(("cohort estimate", COHORT_COLOR, "diamond", True))
    body += _legend(width - right + 75, top + 10, legend)
    return _svg(width, height, body, title)


# ---- strip plot ---------------------------------------------------------------------------------------
@dataclass
class StripGroup:
    """One VOI role: its per-VOI values ``(patient id, value, tooltip)`` and the median to mark."""

    label: str
    points: list[tuple[str, float, str]] = field(default_factory=list)
    median: float | None = None


def strip_plot(groups: list[StripGroup], styles: dict[str, tuple[str, str]], title: str, y_title: str,
               y_range: tuple[float, float] | None = None, width: int = 600, height: int = 380, left: int = 70,
               right: int = 150) -> str:
    """Per group, each value as a marker in its patient's style on a logarithmic axis (absorbed doses
    span from tenths of a gray in the marrow to tens of grays in lesions), the group's median as a
    horizontal bar. Non-positive values cannot be placed: the group says how many are not shown."""
    values = [v for g in groups for _, v, _ in g.points]
    if y_range is None:
        y_range = log_range(values + [g.median for g in groups])
    lo, hi = y_range
    patients = [pid for pid in styles]
    height = max(height, 30 + 16 * (len(patients) + 2) + 100)
    frame = Frame(width=width, height=height, left=left, right=right, top=30, bottom=100,
                  x_range=(0.0, float(max(len(groups), 1))), y_range=(lo, hi), y_log=True)
    body = [_box(frame), *_y_log_axis(frame, lo, hi, y_title), _title(frame, title)]
    slot = frame.px(1) - frame.px(0)
    bottom = height - frame.bottom
    for index, group in enumerate(groups):
        centre = frame.px(index + 0.5)
        if index:
            body.append(f'<line x1="{frame.px(index):.1f}" y1="{frame.top}" x2="{frame.px(index):.1f}" y2="{bottom}" '
                        'stroke="#ececec"/>')
        body.append(f'<text class="x-label" x="{centre:.1f}" y="{bottom + 14}" text-anchor="end" font-size="11" '
                    f'transform="rotate(-30 {centre:.1f} {bottom + 14})">{escape(group.label)}</text>')
        spread = slot * 0.6
        hidden = 0
        for pid, value, tooltip in group.points:
            if not (_positive(value) and lo <= value <= hi):
                hidden += 1
                continue
            color, shape = styles.get(pid, ("#555", "circle"))
            position = patients.index(pid) if pid in patients else 0
            offset = 0.0 if len(patients) < 2 else (position / (len(patients) - 1) - 0.5) * spread
            body.append(marker(shape, centre + offset, frame.py(value), color, 4.0, css_class="point",
                               title=tooltip, attributes=f' data-group="{escape(group.label)}"'))
        if _positive(group.median) and lo <= group.median <= hi:
            y = frame.py(group.median)
            body.append(f'<line class="median" data-group="{escape(group.label)}" x1="{centre - slot * 0.4:.1f}" '
                        f'y1="{y:.1f}" x2="{centre + slot * 0.4:.1f}" y2="{y:.1f}" stroke="#111" stroke-width="2.5"/>')
        if hidden:
            body.append(f'<text x="{centre:.1f}" y="{frame.top + 12}" text-anchor="middle" font-size="10" '
                        f'fill="#7b241c">{hidden} not shown (&#8804; 0)</text>')
    legend = [(pid, color, shape, True) for pid, (color, shape) in styles.items()]
    legend.append(("median", "#111", "square", True))
    body += _legend(width - right + 16, frame.top + 10, legend)
    return _svg(width, height, body, title)


# ---- scatter with the identity line ------------------------------------------------------------------
def scatter_log_log(points: list[tuple[str, float, float, str]], styles: dict[str, tuple[str, str]], title: str,
                    x_title: str, y_title: str, lines: list[tuple[float, str]] | None = None,
                    axis_range: tuple[float, float] | None = None, size: int = 360, left: int = 70,
                    right: int = 200) -> str:
    """``(patient id, x, y, tooltip)`` points on logarithmic axes of one common range (so that
    y = x is the diagonal), the identity line (solid), and ``lines`` y = factor x (factor, label),
    the first long-dashed, the others dotted, each explained in the legend."""
    positive = [(pid, x, y, t) for pid, x, y, t in points if _positive(x, y)]
    if axis_range is None:
        axis_range = log_range([v for _, x, y, _ in positive for v in (x, y)])
    lo, hi = axis_range
    top, bottom = 30, 50
    width = left + size + right
    height = max(top + size + bottom, top + 16 * (len(styles) + len(lines or []) + 2) + bottom)
    frame = Frame(width=width, height=height, left=left, right=right, top=top, bottom=height - top - size,
                  x_range=(math.log10(lo), math.log10(hi)), y_range=(lo, hi), y_log=True)
    body = [_box(frame), *_x_log_axis(frame, lo, hi, x_title), *_y_log_axis(frame, lo, hi, y_title),
            _title(frame, title)]

    def segment(factor: float) -> tuple[float, float, float, float] | None:
        """The part of y = factor x inside the square [lo, hi]^2."""
        x_start, x_end = max(lo, lo / factor), min(hi, hi / factor)
        if x_start >= x_end:
            return None
        return _log_x(frame, x_start), frame.py(factor * x_start), _log_x(frame, x_end), frame.py(factor * x_end)

    legend_x, legend_y = left + size + 20, top + 10
    styles_of_lines = [("identity", "#333", "", "delivered = predicted")]
    for index, (factor, label) in enumerate(lines or []):
        styles_of_lines.append(("agreement", "#b9770e", ' stroke-dasharray="8 4"' if index == 0 else
                                ' stroke-dasharray="2 3"', label, factor))
    for index, entry in enumerate(styles_of_lines):
        css, color, dash, label = entry[:4]
        factor = entry[4] if len(entry) > 4 else 1.0
        ends = segment(factor) if _positive(factor) else None
        data = f' data-factor="{format_number(factor)}"' if css == "agreement" else ""
        if ends:
            body.append(f'<line class="{css}"{data} x1="{ends[0]:.1f}" y1="{ends[1]:.1f}" x2="{ends[2]:.1f}" '
                        f'y2="{ends[3]:.1f}" stroke="{color}" stroke-width="1.3"{dash}/>')
        y = legend_y + 16 * index
        body.append(f'<line x1="{legend_x}" y1="{y - 4}" x2="{legend_x + 22}" y2="{y - 4}" stroke="{color}" '
                    f'stroke-width="1.3"{dash}/>')
        body.append(f'<text x="{legend_x + 28}" y="{y}" font-size="11">{escape(label)}</text>')
    for pid, x, y, tooltip in positive:
        if lo <= x <= hi and lo <= y <= hi:
            color, shape = styles.get(pid, ("#555", "circle"))
            body.append(marker(shape, _log_x(frame, x), frame.py(y), color, 4.0, title=tooltip))
    legend = [(pid, color, shape, True) for pid, (color, shape) in styles.items()]
    body += _legend(legend_x + 6, legend_y + 16 * len(styles_of_lines) + 8, legend)
    return _svg(width, height, body, title)
