"""Follow-up in the reports: HTML fragments and inline SVG charts for one patient (RECIST visits,
each lesion's course, volume change over time, dose against volume change) and for a cohort
(Kaplan-Meier curve with its 95 % band, dose-response of the lesions). Each function takes the
dictionaries of response.json or cohort_summary.json and returns text; it never computes a number
the JSON does not hold (the logistic curve is drawn from the fitted parameters it reports).
"""

from __future__ import annotations

import math
from html import escape

from .formatting import Presentation, significant
from .svg_plots import PALETTE, Frame, _axes, _finite, _horizontal_lines, _legend, _svg

#: Sphere-equivalent volumetric thresholds drawn on the volume-change chart (docs/physics.md section 30).
VOLUME_PR_PERCENT = -65.7
VOLUME_PD_PERCENT = 72.8


def _p_value(value) -> str:
    """A p-value as journals print it: two significant digits, "p < 0.001" below 0.001."""
    if _finite(value) and value < 0.001:
        return "p &lt; 0.001"
    return f"p {_num(value, 2)}"


def _num(value, digits: int = 3, unit: str = "") -> str:
    """A count as it is; any other number as the patient report shows it (:func:`formatting.significant`)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value} {unit}" if unit else str(value)
    return significant(value, digits, unit)


def _table(header: list[str], rows: list[list[str]], left_columns: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left_columns else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left_columns else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _range(values: list[float], include=(), pad: float = 0.08) -> tuple[float, float]:
    values = [v for v in list(values) + list(include) if _finite(v)]
    if not values:
        return 0.0, 1.0
    lo, hi = min(values), max(values)
    if hi == lo:
        hi = lo + 1.0
    span = hi - lo
    return lo - pad * span, hi + pad * span


def xy_chart(series: list[dict], title: str, x_title: str, y_title: str, x_range=None, y_range=None,
             horizontal_lines: list[tuple[float, str]] | None = None, width: int = 490, height: int = 340) -> str:
    """Points and lines on linear axes that may be negative. Each series: ``name``, ``x``, ``y``,
    optional ``color``, ``line`` (default True), ``markers`` (True), ``dashed``, ``step`` (a
    right-continuous step function), ``band`` ((x, low, high) lists drawn as a shaded area)."""
    xs = [x for s in series for x in s["x"] if _finite(x)]
    ys = [y for s in series for y in s["y"] if _finite(y)]
    bands = [v for s in series if s.get("band") for v in s["band"][1] + s["band"][2] if _finite(v)]
    x_range = x_range or _range(xs)
    y_range = y_range or _range(ys + bands, [v for v, _ in horizontal_lines or []])
    frame = Frame(width=width, height=height, right=130, x_range=x_range, y_range=y_range)
    body = _axes(frame, title, x_title, y_title)
    legend = []
    for index, s in enumerate(series):
        color = s.get("color") or PALETTE[index % len(PALETTE)]
        if s.get("in_legend", True):
            legend.append((s["name"], color))
        if s.get("band"):
            bx, low, high = s["band"]
            upper, lower = [], []
            for n, (x, lo, hi) in enumerate(zip(bx, low, high)):
                if not _finite(x, lo, hi):
                    continue
                x_next = bx[n + 1] if n + 1 < len(bx) else x_range[1]
                upper += [(frame.px(x), frame.py(hi)), (frame.px(x_next), frame.py(hi))]
                lower += [(frame.px(x), frame.py(lo)), (frame.px(x_next), frame.py(lo))]
            if upper:
                path = " ".join(f"{x:.1f},{y:.1f}" for x, y in upper + lower[::-1])
                body.append(f'<polygon points="{path}" fill="{color}" fill-opacity="0.18" stroke="none"/>')
        points = [(x, y) for x, y in zip(s["x"], s["y"]) if _finite(x, y)]
        if s.get("step") and points:
            stepped = []
            for n, (x, y) in enumerate(points):
                if stepped:
                    stepped.append((x, stepped[-1][1]))
                stepped.append((x, y))
            stepped.append((x_range[1], stepped[-1][1]))
            points_px = [(frame.px(x), frame.py(y)) for x, y in stepped]
        else:
            points_px = [(frame.px(x), frame.py(y)) for x, y in points]
        if s.get("line", True) and len(points_px) > 1:
            dash = ' stroke-dasharray="5 3"' if s.get("dashed") else ""
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points_px)
            body.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>')
        if s.get("markers", True):
            for x, y in points:
                body.append(f'<circle cx="{frame.px(x):.1f}" cy="{frame.py(y):.1f}" r="3.5" fill="{color}">'
                            f'<title>{escape(s["name"])}: {x:.3g}, {y:.3g}</title></circle>')
    body += _horizontal_lines(frame, horizontal_lines)
    body += _legend(frame, legend[:18], outside=True)
    return _svg(frame, body, title)


# ---- one patient ----------------------------------------------------------------------------------
def volume_change_chart(report: dict) -> str:
    """Each lesion's volume change from baseline (%) against months after the start of the cycle."""
    series = []
    for lesion in report.get("lesions", []):
        x = [0.0] + [e.get("months_after_start") for e in lesion["course"]]
        y = [0.0] + [e.get("volume_change_percent") for e in lesion["course"]]
        series.append({"name": lesion["name"], "x": x, "y": y})
    return xy_chart(series, "Lesion volume over the follow-up", "months after the intra-arterial cycle",
                    "volume change from baseline (%)",
                    horizontal_lines=[(VOLUME_PR_PERCENT, "partial response -65.7 %"),
                                      (VOLUME_PD_PERCENT, "progression +72.8 % (from nadir)")])


def dose_volume_change_chart(report: dict, dose_key: str = "absorbed_dose_gy") -> str:
    """Each lesion's absorbed dose against its volume change, one series per visit."""
    series = []
    for visit in report.get("visits", []):
        x, y = [], []
        for lesion in report.get("lesions", []):
            entry = next((e for e in lesion["course"] if e["visit"] == visit["name"]), None)
            if entry is not None and lesion.get(dose_key) is not None:
                x.append(lesion[dose_key])
                y.append(entry.get("volume_change_percent"))
        series.append({"name": visit["name"], "x": x, "y": y, "line": False})
    label = "absorbed dose of the intra-arterial cycle (Gy)" if dose_key == "absorbed_dose_gy" \
        else "absorbed dose, all cycles (Gy)"
    return xy_chart(series, "Absorbed dose and volume change", label, "volume change from baseline (%)",
                    horizontal_lines=[(VOLUME_PR_PERCENT, "partial response")])


def _dose_response_rows(per_visit: dict) -> list[list[str]]:
    rows = []
    for visit, analyses in per_visit.items():
        for kind in ("absorbed_dose", "cumulative_absorbed_dose"):
            result = analyses.get(kind) if analyses else None
            if not result:
                continue
            s, lg, roc = result["spearman"], result["logistic"], result["roc"]
            if lg.get("d50_gy") is not None:
                low, high = lg["d50_ci_gy"]
                d50 = (f"{_num(lg['d50_gy'])} Gy [{_num(low) if low is not None else 'open'}, "
                       f"{_num(high) if high is not None else 'open'}]")
            elif lg.get("separation_interval_gy"):
                low, high = lg["separation_interval_gy"]
                d50 = f"complete separation: between {_num(low)} and {_num(high)} Gy (no finite fit)"
            else:
                d50 = escape(lg.get("note", "not estimated"))
            rows.append([escape(visit), "intra-arterial cycle" if kind == "absorbed_dose" else "all cycles",
                         _num(lg.get("n")), f"{_num(s.get('rho'))} ({_p_value(s.get('p_value'))})", d50,
                         f"{_num(roc.get('auc'))} [{_num(roc.get('ci_low'), 2)}, {_num(roc.get('ci_high'), 2)}]"])
    return rows


#: How the report names a PFS event (response.json ``pfs_event_type``).
EVENT_LABELS = {"recist_progression": "RECIST 1.1 progression", "clinical_progression": "clinical progression",
                "death": "death"}


def followup_headline(report: dict) -> str:
    """One line: best overall response, the visit of progression and the PFS with its event."""
    recist = report.get("recist", {})
    event = report.get("pfs_event_type")
    pfs_text = (f"{_num(report.get('pfs_months'))} months ({escape(EVENT_LABELS.get(event, str(event)))})" if event
                else f"{_num(report.get('pfs_months'))} months, censored at the last contact")
    return (f'<b>Best overall response (RECIST 1.1): {escape(str(recist.get("best_overall_response")))}</b>'
            f' &middot; progression: {escape(str(recist.get("progression_visit") or "none"))}'
            f' &middot; PFS {pfs_text}')


def patient_followup_section(report: dict, show: Presentation | None = None) -> str:
    """The report's follow-up section for one patient (response.json). Dates as ``show`` shows them
    (days from day 0 when de-identified); the follow-up's warnings go to the report's warnings."""
    show = show or Presentation()
    recist = report.get("recist", {})
    parts = ["<h2>Follow-up: response and progression-free survival</h2>",
             f"<p>{followup_headline(report)}</p>",
             f'<p class="meta">Target lesions: {escape(", ".join(recist.get("targets", [])) or "none")} '
             f'({escape(str(recist.get("selection_rule", "")))}); non-target: '
             f'{escape(", ".join(recist.get("non_targets", [])) or "none")}. Start: {show.when(report.get("start_date"))}.'
             "</p>"]
    visit_rows = []
    for visit in report.get("visits", []):
        r = visit.get("recist", {})
        visit_rows.append([escape(visit["name"]), show.when(visit["date"], with_time=False), _num(visit.get("months_after_start")),
                           escape(visit.get("modality", "")),
                           "carried (registration)" if visit.get("carry_over") else "own segmentation",
                           _num(r.get("sum_of_diameters_mm"), 4, "mm"), _num(r.get("change_from_baseline_percent"), 3, "%"),
                           _num(r.get("change_from_nadir_mm"), 3, "mm"), escape(str(r.get("target_response"))),
                           escape(str(r.get("non_target_response"))), _num(r.get("new_lesions")),
                           f'<b>{escape(str(r.get("overall_response")))}</b>'])
    parts.append("<h3>RECIST 1.1 per visit</h3>")
    parts.append(_table(["visit", "date", "months", "modality", "lesions", "sum of diameters", "from baseline",
                         "from nadir", "target", "non-target", "new lesion", "overall"], visit_rows))
    course_rows = []
    visits = [v["name"] for v in report.get("visits", [])]
    for lesion in report.get("lesions", []):
        b = lesion["baseline"]
        cells = [escape(lesion["name"]), escape(lesion["organ"]), "target" if lesion["target"] else "non-target",
                 _num(lesion.get("absorbed_dose_gy"), 3, "Gy"),
                 f"{_num(b['volume_ml'], 3, 'mL')} / {_num(b['longest_diameter_mm'], 3, 'mm')}"]
        by_visit = {e["visit"]: e for e in lesion["course"]}
        for name in visits:
            e = by_visit.get(name, {})
            if e.get("volume_ml") is None:
                cells.append("not evaluated")
                continue
            cells.append(f"{_num(e['volume_ml'], 3, 'mL')} / {_num(e.get('longest_diameter_mm'), 3, 'mm')}<br>"
                         f"{_num(e.get('volume_change_percent'), 3, '%')} {escape(str(e.get('volumetric_response')))}")
        course_rows.append(cells)
    parts.append("<h3>Each lesion's course (volume / longest diameter; volume change and volumetric response)</h3>")
    parts.append(_table(["lesion", "organ", "RECIST", "absorbed dose", "baseline"] + visits, course_rows, 3))
    for new in report.get("new_lesions", []):
        measured = new.get("measurement") or {}
        parts.append(f'<div class="warn">New lesion at {escape(new["visit"])}: {escape(new["name"])}'
                     + (f" ({_num(measured.get('volume_ml'), 3, 'mL')}, "
                        f"{_num(measured.get('longest_diameter_mm'), 3, 'mm')})"
                        if measured else "") + "</div>")
    charts = [volume_change_chart(report)]
    if any(lesion.get("absorbed_dose_gy") is not None for lesion in report.get("lesions", [])):
        charts.append(dose_volume_change_chart(report))
    parts.append(f'<div class="charts">{"".join(charts)}</div>')
    per_visit = (report.get("dose_response") or {}).get("per_visit") or {}
    if per_visit:
        parts.append("<h3>Dose-response of this patient's lesions</h3>")
        parts.append(_table(["visit", "dose", "lesions", "Spearman rho", "D50 (95 % profile-likelihood interval)",
                             "ROC AUC [95 %]"], _dose_response_rows(per_visit), 2))
        parts.append(f'<p class="meta">Dose: {escape(str(report["dose_response"].get("dose_source")))}. Response: '
                     f'{escape(str(report["dose_response"].get("response")))}.</p>')
    return "".join(parts)


# ---- a cohort -------------------------------------------------------------------------------------
def kaplan_meier_chart(pfs: dict, title: str = "Progression-free survival (Kaplan-Meier, 95 % band)") -> str:
    """The Kaplan-Meier step curve of cohort_summary.json's ``followup.pfs`` with its band, censored
    times as ticks and the 18-month landmark."""
    table = pfs.get("table", [])
    x = [0.0] + [row["time_months"] for row in table]
    y = [1.0] + [row["survival"] for row in table]
    low = [1.0] + [row["ci_low"] for row in table]
    high = [1.0] + [row["ci_high"] for row in table]
    censored = [(row["time_months"], row["survival"]) for row in table if row.get("censored")]
    series = [{"name": "PFS", "x": x, "y": y, "step": True, "markers": False, "band": (x, low, high), "color": PALETTE[1]},
              {"name": "censored", "x": [c[0] for c in censored], "y": [c[1] for c in censored], "line": False,
               "color": "#333"}]
    landmark = pfs.get("landmark_months")
    x_max = max(x + [landmark or 0.0]) * 1.05 or 1.0
    lines = [(0.5, "median")]
    return xy_chart(series, title, "months after the intra-arterial cycle", "progression-free (fraction)",
                    x_range=(0.0, x_max), y_range=(0.0, 1.05), horizontal_lines=lines, width=560)


def dose_response_chart(rows: list[dict], logistic: dict | None, title: str) -> str:
    """Responders (1) and non-responders (0) against dose with the fitted logistic curve and D50."""
    doses = [r["absorbed_dose_gy"] for r in rows if _finite(r.get("absorbed_dose_gy"))]
    series = [{"name": "lesions", "x": doses, "y": [1.0 if r["responded"] else 0.0 for r in rows
                                                    if _finite(r.get("absorbed_dose_gy"))], "line": False}]
    if logistic and logistic.get("estimable"):
        hi = max(doses) * 1.1 if doses else 1.0
        grid = [hi * n / 100.0 for n in range(101)]
        b0, b1 = logistic["intercept"], logistic["slope_per_gy"]
        series.append({"name": "logistic fit", "x": grid,
                       "y": [1.0 / (1.0 + math.exp(-max(min(b0 + b1 * d, 700.0), -700.0))) for d in grid],
                       "markers": False, "color": PALETTE[1]})
        series.append({"name": f"D50 {logistic['d50_gy']:.3g} Gy", "x": [logistic["d50_gy"]], "y": [0.5],
                       "line": False, "color": "#333"})
    return xy_chart(series, title, "absorbed dose (Gy)", "response (1 = volumetric CR or PR)", y_range=(-0.08, 1.08))


def cohort_followup_section(followup: dict, lesion_rows_by_visit: dict[str, list[dict]] | None = None) -> str:
    """The cohort's follow-up: median PFS and the 18-month rate with intervals, the Kaplan-Meier
    chart, best responses, the dose-response table and (with ``lesion_rows_by_visit``, from
    :func:`iahepaticprrt.study.followup_cohort.lesion_rows`) the dose-response charts."""
    pfs = followup.get("pfs", {})
    median, (m_low, m_high) = followup.get("median_pfs_months"), followup.get("median_pfs_ci_months", [None, None])
    rate_key = [k for k in followup if k.startswith("pfs_rate_") and not k.endswith("_ci")]
    rate = followup.get(rate_key[0]) if rate_key else None
    r_low, r_high = followup.get(rate_key[0] + "_ci", [None, None]) if rate_key else (None, None)
    landmark = f"{pfs['landmark_months']:g}" if _finite(pfs.get("landmark_months")) else "&ndash;"  # 18, not 18.0
    parts = ["<h2>Follow-up of the cohort</h2>",
             f"<p>{_num(pfs.get('n'))} patients, {_num(pfs.get('events'))} events. Median PFS "
             f"{_num(median) if median is not None else 'not reached'} months (95 % interval "
             f"{_num(m_low) if m_low is not None else 'not reached'} to "
             f"{_num(m_high) if m_high is not None else 'not reached'});"
             f" PFS at {landmark} months {_num(rate)} (95 % interval {_num(r_low)} to "
             f"{_num(r_high)}).</p>",
             kaplan_meier_chart(pfs)]
    counts = followup.get("best_overall_response_counts", {})
    parts.append(_table(["best overall response"] + list(counts), [["patients"] + [_num(v) for v in counts.values()]]))
    per_visit = (followup.get("dose_response") or {}).get("per_visit", {})
    if per_visit:
        parts.append("<h3>Dose-response of the lesions</h3>")
        parts.append(_table(["visit", "dose", "lesions", "Spearman rho", "D50 (95 % profile-likelihood interval)",
                             "ROC AUC [95 %]"], _dose_response_rows(per_visit), 2))
    if lesion_rows_by_visit:
        charts = [dose_response_chart(rows, ((per_visit.get(visit) or {}).get("absorbed_dose") or {}).get("logistic"),
                                      f"Dose-response at {visit}") for visit, rows in lesion_rows_by_visit.items()]
        parts.append(f'<div class="charts">{"".join(charts)}</div>')
    return "".join(parts)
