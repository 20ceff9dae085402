"""The cohort report written by ``batch``: one self-contained HTML page (inline SVG, no script, no
external resource), summary first.

1. The headline: patients (analysed / failed), eligible patients with the Clopper-Pearson interval,
   the primary comparison (the patient-level test of cohort_summary.json, its unit of analysis and
   n), the mean of the patients' mean ratios, and the same per site when there is more than one.
2. The eligibility table: one row per patient, linked to its report.html; failed patients with
   their error.
3. A forest plot of the patients' mean enhancement ratios with their intervals (log ratio axis,
   threshold line, borderline patients marked, cohort estimates last).
4. Absorbed doses by VOI role: per-VOI doses as a strip plot, n, median and range beside it.
5. Predicted versus delivered lesion doses (scatter with the identity line, Bland-Altman figures).
6. Follow-up: :func:`_follow_up_section`, the extension point of issue 15 (nothing without follow-up).
7. Provenance (collapsed): software version, cohort folder, workers, the tests' definitions.

It formats numbers it is given (cohort_summary.json's statistics, the patients' results.json); it
computes none, so it cannot disagree with the JSON and CSV files.

Identification: the page never shows a patient's name (it never reads one). It shows each
patient's ID, as the batch's output folder names (and cohort.csv) already do. Input paths are
shown relative to the cohort folder; for a patient whose manifest asks for ``report.deidentify``,
any other absolute path in its error message is reduced to its last component, as the patient
report does with input paths.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from datetime import datetime
from html import escape
from pathlib import Path, PurePath

from ..version import __version__
from .followup_sections import cohort_followup_section
from .cohort_plots import (ForestRow, StripGroup, forest_plot, format_number, format_plain, patient_styles,
                           scatter_log_log, strip_plot)

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1100px;color:#222;line-height:1.35;padding:0 12px}
h1{font-size:22px;margin-bottom:2px}h2{font-size:18px;border-bottom:2px solid #2471a3;padding-bottom:3px;margin-top:28px}
h3{font-size:15px;margin-bottom:4px}.meta{color:#555;font-size:13px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#eef3f8}td.l,th.l{text-align:left}
.headline{font-size:15px;margin:6px 0}.headline b{font-size:16px}
.warn{background:#fef5e7;border-left:4px solid #b9770e;padding:6px 10px;font-size:12.5px;margin:6px 0}
.failed td{background:#fdecea}.exceeded{color:#c0392b;font-weight:bold}.borderline{color:#b9770e;font-weight:bold}
.side{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
details{margin-top:28px}summary{font-size:18px;font-weight:bold;cursor:pointer}
"""

_METRIC_LABELS = {"suv_max": "SUVmax", "suv_peak": "SUVpeak", "suv_mean": "SUVmean"}
_LIMIT_LABELS = {"kidney_dose_gy": "kidney dose", "kidney_bed_gy": "kidney BED",
                 "bone_marrow_dose_gy": "bone-marrow dose"}

#: Keys under which a patient's results.json and cohort_summary.json carry follow-up (issue 15).
FOLLOW_UP_KEYS = ("followup", "follow_up")


# ---- formatting -------------------------------------------------------------------------------------
def _num(value) -> str:
    return escape(format_number(value))


def _percent(fraction) -> str:
    return "–" if fraction is None else f"{format_number(100.0 * fraction)} %"


def _confidence(fraction) -> str:
    """A confidence level as a round percentage (0.95 -> "95 %")."""
    return "–" if fraction is None else f"{format_plain(round(100.0 * fraction, 6))} %"


def _interval(low, high) -> str:
    if low is None or high is None:
        return "–"
    return f"{_num(low)} – {_num(high)}"


def _yes_no(value) -> str:
    return "–" if value is None else ("yes" if value else "no")


def _table(header: list[str], rows: list[list[str]], left_columns: int = 1, row_classes: list[str] | None = None,
           css_class: str = "") -> str:
    head = "".join(f'<th class="{"l" if i < left_columns else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    body = []
    for index, row in enumerate(rows):
        klass = (row_classes or [""] * len(rows))[index]
        cells = "".join(f'<td class="{"l" if i < left_columns else ""}">{c}</td>' for i, c in enumerate(row))
        body.append(f'<tr class="{klass}">{cells}</tr>' if klass else f"<tr>{cells}</tr>")
    klass = f' class="{css_class}"' if css_class else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _metric_label(metric) -> str:
    return _METRIC_LABELS.get(metric, str(metric or "suv_max"))


# ---- paths and identity --------------------------------------------------------------------------------
_ABSOLUTE_PATH = re.compile(r"(?:(?<![\w.])[A-Za-z]:)?(?<![\w.])[/\\](?:[^/\\:\s][^/\\:\n]*[/\\])+")


def _relative_to(path, folder) -> str:
    """``path`` relative to ``folder`` when it lies inside it, else as given."""
    if folder is None:
        return str(path)
    for base in {Path(folder), Path(folder).resolve()}:
        try:
            return Path(path).relative_to(base).as_posix()
        except ValueError:
            continue
    return str(path)


def _clean_error(message: str, cohort_dir, deidentify: bool) -> str:
    """The error with paths inside the cohort folder made relative to it; for a de-identified patient,
    every other absolute path reduced to its last component."""
    if cohort_dir is not None:
        for base in sorted({str(Path(cohort_dir)), str(Path(cohort_dir).resolve())}, key=len, reverse=True):
            message = message.replace(base.rstrip("/\\") + os.sep, "")
    if deidentify:
        message = _ABSOLUTE_PATH.sub("", message)
    return message


def patient_id_of(outcome: dict) -> str:
    """A patient's ID in cohort.csv and both reports: as the batch gave it (``patient_id``), else the
    one in its results; for a patient that failed, its manifest's name, or its folder's for
    ``COHORT_DIR/<patient>/manifest.json`` (not "manifest")."""
    results = outcome.get("results") or {}
    path = PurePath(outcome["manifest"])
    return str(outcome.get("patient_id") or results.get("patient_id")
               or (path.parent.name if path.name == "manifest.json" else path.stem))


def _report_link(outcome: dict) -> str | None:
    """Relative URL of the patient's report.html: the folder name as the batch wrote it, itself
    percent-encoded for the URL (a folder ``NET%2F017`` is ``NET%252F017/report.html``)."""
    results = outcome.get("results") or {}
    folder = outcome.get("folder") or (PurePath(outcome["output"]).name if outcome.get("output") else None)
    if outcome.get("status") != "ok" or not folder or not (results.get("outputs") or {}).get("report"):
        return None
    return urllib.parse.quote(folder, safe="") + "/report.html"


def _id_cell(outcome: dict) -> str:
    link = _report_link(outcome)
    text = escape(patient_id_of(outcome))
    return f'<a class="patient" href="{escape(link)}">{text}</a>' if link else f'<span class="patient">{text}</span>'


# ---- sections ----------------------------------------------------------------------------------------
def _headline(summary: dict, ok: list[dict]) -> str:
    failed = summary.get("failed") or []
    total = summary.get("patients", len(ok) + len(failed))
    parts = ["<h2>Summary</h2>",
             f'<p class="headline"><b>{total} patient{"s" if total != 1 else ""}</b>: '
             f'{summary.get("succeeded", len(ok))} analysed, {len(failed)} failed'
             + (' (listed under the eligibility table)' if failed else "") + ".</p>"]
    eligibility = summary.get("eligibility") or {}
    if eligibility.get("n"):
        confidence = _confidence(eligibility.get("confidence"))
        parts.append(
            f'<p class="headline"><b>Eligible: {eligibility["count"]} of {eligibility["n"]}</b> patients with a decision '
            f"({_percent(eligibility.get('proportion'))}; {confidence} Clopper-Pearson interval "
            f"{_percent(eligibility.get('ci_low'))} to {_percent(eligibility.get('ci_high'))}); "
            f"{eligibility.get('borderline_patients', 0)} borderline (the interval of the mean ratio contains the "
            "threshold).</p>")
    parts.append(_primary(summary, "the cohort"))
    metrics = sorted({(o["results"].get("uptake") or {}).get("metric") for o in ok if o["results"].get("uptake")}
                     - {None})
    if len(metrics) > 1:
        parts.append(f'<div class="warn">The patients\' manifests use different metrics ({escape(", ".join(metrics))}): '
                     "their ratios are not one quantity.</div>")
    sites = summary.get("by_site") or {}
    if len(sites) > 1:
        rows = []
        for site, entry in sites.items():
            primary = entry.get("primary_endpoint") or {}
            hl = primary.get("hodges_lehmann") or {}
            test = primary.get("wilcoxon_signed_rank") or {}
            eligible = entry.get("eligibility") or {}
            mean = entry.get("mean_enhancement_ratio") or {}
            rows.append([escape(site), str(entry.get("patients", 0)),
                         f"{eligible.get('count', 0)} / {eligible.get('n', 0)}",
                         f"{_percent(eligible.get('ci_low'))} – {_percent(eligible.get('ci_high'))}"
                         if eligible.get("n") else "–",
                         _num(hl.get("estimate_ratio")), _interval(hl.get("ci_low_ratio"), hl.get("ci_high_ratio")),
                         _num(test.get("p_value")), str(primary.get("n", 0)), _num(mean.get("mean")),
                         _interval(mean.get("ci_low"), mean.get("ci_high"))])
        parts.append("<h3>Per site</h3>" + _table(
            ["site", "patients (n)", "eligible (n / n decided)", "eligible: 95 % interval (%)",
             "Hodges-Lehmann ratio (unitless)", "its exact interval (unitless)", "Wilcoxon p (two-sided)",
             "patients in the test (n)", "mean of mean ratios (unitless)", "Student-t 95 % interval (unitless)"],
            rows, css_class="sites"))
    return "".join(parts)


def _primary(summary: dict, group: str) -> str:
    primary = summary.get("primary_endpoint") or {}
    if not primary.get("n"):
        return '<p class="headline">No patient has an enhancement ratio: no comparison of the routes.</p>'
    hl = primary.get("hodges_lehmann") or {}
    test = primary.get("wilcoxon_signed_rank") or {}
    metric = _metric_label(primary.get("metric"))
    achieved = hl.get("confidence_achieved")
    asked = hl.get("confidence")
    achieved_text = (f" (achieved confidence {_percent(achieved)}: too few patients for {_confidence(asked)})"
                     if achieved is not None and asked is not None and achieved < asked - 1e-12 else "")
    unit = escape(str(primary.get("unit_of_analysis", "patient")))
    text = (f'<p class="headline"><b>Primary comparison</b> ({escape(group)}; unit of analysis: {unit}, '
            f'n = {primary["n"]}): each patient\'s mean over its target lesions of ln({metric} ratio IA / IV). '
            f"Hodges-Lehmann estimate as a ratio <b>{_num(hl.get('estimate_ratio'))}</b>, "
            f"{_confidence(asked)} exact interval {_interval(hl.get('ci_low_ratio'), hl.get('ci_high_ratio'))}"
            f"{achieved_text}; Wilcoxon signed-rank test against no difference (IA = IV): "
            f"two-sided p = <b>{_num(test.get('p_value'))}</b> (n = {test.get('n', primary['n'])}; the smallest p "
            f"{test.get('n', primary['n'])} patients can give: {_num(test.get('minimum_attainable_p_value'))}).</p>")
    mean = summary.get("mean_enhancement_ratio") or {}
    if mean.get("n"):
        boot = mean.get("cluster_bootstrap") or {}
        text += (f'<p class="headline">Mean of the patients\' mean enhancement ratios: <b>{_num(mean.get("mean"))}</b> '
                 f"(n = {mean['n']} patients; {_confidence(mean.get('confidence'))} Student-t interval "
                 f"{_interval(mean.get('ci_low'), mean.get('ci_high'))}; cluster bootstrap over patients "
                 f"{_interval(boot.get('ci_low'), boot.get('ci_high'))}).</p>")
    return text


def _eligibility_table(outcomes: list[dict]) -> str:
    ok = [o for o in outcomes if o.get("status") == "ok"]
    thresholds = {(o["results"].get("uptake") or {}).get("threshold") for o in ok} - {None}
    threshold_text = format_plain(next(iter(thresholds))) if len(thresholds) == 1 else "threshold"
    metrics = {(o["results"].get("uptake") or {}).get("metric") for o in ok} - {None}
    metric = _metric_label(next(iter(metrics))) if len(metrics) == 1 else "metric"
    rows, classes = [], []
    for o in ok:
        results = o["results"]
        uptake = results.get("uptake") or {}
        limits = (((results.get("dosimetry") or {}).get("limits") or {}).get("limits") or {})
        kidney, marrow = limits.get("kidney_dose_gy") or {}, limits.get("bone_marrow_dose_gy") or {}
        exceeded = [_LIMIT_LABELS.get(k, k) for k, item in limits.items() if item.get("exceeded")]
        borderline = uptake.get("borderline")
        rows.append([
            _id_cell(o), escape(str(((results.get("site") or {}).get("name")) or "–")),
            f'<span class="ratio">{_num(uptake.get("mean_enhancement_ratio"))}</span>',
            _interval(uptake.get("mean_enhancement_ratio_ci_low"), uptake.get("mean_enhancement_ratio_ci_high")),
            _num(uptake.get("probability_mean_at_least_threshold")),
            '<span class="borderline">borderline</span>' if borderline else _yes_no(borderline),
            _yes_no(uptake.get("eligible")),
            str(len(uptake.get("target_lesions_in_mean") or [])) if uptake else "–",
            _num(kidney.get("this_cycle")), _num(marrow.get("this_cycle")),
            f'<span class="exceeded">{escape(", ".join(exceeded))}</span>' if exceeded else ("none" if limits else "–")])
        classes.append("")
    header = ["patient ID (link: its report)", "site", f"mean enhancement ratio, {metric} IA / IV (unitless)",
              "95 % interval (unitless)", f"P(mean ≥ {threshold_text}) (probability)", "borderline",
              f"eligible (mean ≥ {threshold_text})", "target lesions in the mean (n)",
              "kidney absorbed dose, this cycle (Gy)", "bone-marrow absorbed dose, this cycle (Gy)",
              "cumulative limits exceeded"]
    parts = ["<h2>Eligibility, patient by patient</h2>", _table(header, rows, left_columns=2, css_class="eligibility")]
    parts.append('<p class="meta">Each value is the patient\'s results.json (and cohort.csv) value to 3 significant '
                 "digits. Interval: from the scans' noise (docs/physics.md section 23). Kidney: the higher of the "
                 "kidney VOIs, as for the limits.</p>")
    failed = [o for o in outcomes if o.get("status") != "ok"]
    if failed:
        failed_rows = [[_id_cell(o), escape(_relative_to(o["manifest"], o.get("cohort_dir"))),
                        f'<span class="error">{escape(_clean_error(str(o.get("error", "")), o.get("cohort_dir"), bool(o.get("deidentify", True))))}</span>']
                       for o in failed]
        parts.append("<h3>Patients not analysed</h3>"
                     + _table(["patient ID", "manifest (in the cohort folder)", "error"], failed_rows, left_columns=3,
                              row_classes=["failed"] * len(failed_rows), css_class="failed-patients")
                     + '<p class="meta">Paths inside the cohort folder are shown relative to it. These patients are in '
                       "no statistic above.</p>")
    return "".join(parts)


def _forest_section(summary: dict, outcomes: list[dict]) -> str:
    rows = []
    thresholds: list[float] = []
    metrics = set()
    for o in outcomes:
        if o.get("status") != "ok":
            continue
        uptake = o["results"].get("uptake") or {}
        if uptake.get("mean_enhancement_ratio") is None:
            continue
        metrics.add(uptake.get("metric"))
        if uptake.get("threshold") is not None and uptake["threshold"] not in thresholds:
            thresholds.append(uptake["threshold"])
        eligible = uptake.get("eligible")
        kind = "undecided" if eligible is None else ("eligible" if eligible else "not_eligible")
        low, high = uptake.get("mean_enhancement_ratio_ci_low"), uptake.get("mean_enhancement_ratio_ci_high")
        rows.append(ForestRow(patient_id_of(o), uptake.get("mean_enhancement_ratio"), low, high, kind,
                              bool(uptake.get("borderline")),
                              f"{patient_id_of(o)}: {format_number(uptake.get('mean_enhancement_ratio'))} "
                              f"({format_number(low)} – {format_number(high)})"))
    if not rows:
        return ""
    mean = summary.get("mean_enhancement_ratio") or {}
    hl = (summary.get("primary_endpoint") or {}).get("hodges_lehmann") or {}
    cohort_rows = []
    if mean.get("mean") is not None:
        cohort_rows.append(ForestRow("Cohort: mean (Student-t)", mean.get("mean"), mean.get("ci_low"),
                                     mean.get("ci_high"), "cohort"))
    if hl.get("estimate_ratio") is not None:
        cohort_rows.append(ForestRow("Cohort: Hodges-Lehmann", hl.get("estimate_ratio"), hl.get("ci_low_ratio"),
                                     hl.get("ci_high_ratio"), "cohort"))
    metric = _metric_label(next(iter(metrics))) if len(metrics) == 1 else "metric"
    svg = forest_plot(rows + cohort_rows, thresholds, "Mean enhancement ratio per patient with its 95 % interval",
                      f"mean enhancement ratio, {metric} IA / IV (unitless, logarithmic axis)")
    return ("<h2>Forest plot of the enhancement ratios</h2>" + svg
            + '<p class="meta">Square: the patient\'s mean enhancement ratio over its target lesions; bar: its 95 % '
              "interval from the scans' noise; dashed line: the eligibility threshold; grey line: ratio 1 (no "
              "difference between the routes). Last rows: the mean of the patients' mean ratios with its Student-t "
              "interval, and the primary comparison's Hodges-Lehmann estimate (a geometric-mean ratio) with its exact "
              "interval (cohort_summary.json).</p>")


def _dose_section(summary: dict, dose_groups: dict, styles: dict) -> str:
    described = summary.get("absorbed_dose_gy_per_role") or {}
    groups, rows = [], []
    for key, group in (dose_groups or {}).items():
        entry = described.get(key) or {}
        points = [(pid, dose, f"{pid}, {voi}: {format_number(dose)} Gy") for pid, voi, dose in group.get("points", [])
                  if dose is not None]
        if not points and not entry.get("n"):
            continue
        label = str(entry.get("label") or group.get("label") or key)
        groups.append(StripGroup(label, points, entry.get("median")))
        rows.append([escape(label), str(entry.get("n", 0)), str(entry.get("n_patients", 0)), _num(entry.get("median")),
                     _interval(entry.get("min"), entry.get("max"))])
    if not groups:
        return ""
    svg = strip_plot(groups, styles, "Absorbed dose per VOI, by VOI role",
                     "absorbed dose, this cycle (Gy, logarithmic axis)")
    table = _table(["VOI role", "VOIs (n)", "patients (n)", "median (Gy)", "range (Gy)"], rows, css_class="doses")
    return ("<h2>Absorbed doses by VOI role</h2>" + f'<div class="side">{svg}{table}</div>'
            + '<p class="meta">One marker per VOI (absorbed_dose_gy of results.json and cohort.csv), in its patient\'s '
              "colour and marker; bar: the median (cohort_summary.json absorbed_dose_gy_per_role, whose n counts "
              "VOIs: both kidneys of a patient are two). Descriptive only: no test is made on VOIs.</p>")


def _predicted_section(summary: dict, outcomes: list[dict], styles: dict) -> str:
    points = []
    for o in outcomes:
        if o.get("status") != "ok":
            continue
        for entry in (o["results"].get("predicted_vs_delivered") or {}).get("lesions", []):
            predicted, delivered = entry.get("predicted_ia_dose_gy"), entry.get("delivered_ia_dose_gy")
            if predicted is None or delivered is None:
                continue
            pid = patient_id_of(o)
            points.append((pid, predicted, delivered, f"{pid}, {entry.get('name')}: predicted "
                           f"{format_number(predicted)} Gy, delivered {format_number(delivered)} Gy"))
    agreement = (summary.get("predicted_vs_delivered") or {}).get("bland_altman_log_dose") or {}
    if not points and not agreement.get("n"):
        return ""
    lines = []
    if agreement.get("ratio_geometric_mean") is not None:
        lines.append((agreement["ratio_geometric_mean"], f"bias: × {format_number(agreement['ratio_geometric_mean'])}"))
    for key, label in (("loa_low_ratio", "lower 95 % limit"), ("loa_high_ratio", "upper 95 % limit")):
        if agreement.get(key) is not None:
            lines.append((agreement[key], f"{label}: × {format_number(agreement[key])}"))
    plotted = {pid: styles[pid] for pid in dict.fromkeys(p[0] for p in points) if pid in styles}
    svg = scatter_log_log(points, plotted, "Lesion dose: delivered against predicted",
                          "predicted IA dose: IV dose × 68Ga ratio (Gy)", "delivered IA dose (Gy)", lines)
    rows = [["lesions (n)", str(agreement.get("n", 0))], ["patients (n)", str(agreement.get("n_patients", 0))],
            ["geometric mean of delivered / predicted (unitless)", _num(agreement.get("ratio_geometric_mean"))],
            ["its 95 % interval, cluster bootstrap (unitless)",
             _interval(agreement.get("bias_ci_low_ratio"), agreement.get("bias_ci_high_ratio"))],
            ["95 % limits of agreement (ratio, unitless)",
             _interval(agreement.get("loa_low_ratio"), agreement.get("loa_high_ratio"))],
            ["SD of ln(delivered / predicted) (unitless)", _num(agreement.get("sd_log"))],
            ["variance", escape(str(agreement.get("variance_method") or "–"))]]
    table = _table(["Bland-Altman on log doses", "value"], rows, css_class="bland-altman")
    return ("<h2>Predicted versus delivered lesion doses</h2>" + f'<div class="side">{svg}{table}</div>'
            + '<p class="meta">Each marker is a lesion with both doses (results.json predicted_vs_delivered); solid '
              "line: delivered = predicted; dashed: the Bland-Altman bias, dotted: its 95 % limits of agreement "
              "(cohort_summary.json), drawn as delivered = factor × predicted (docs/physics.md sections 25 and 26).</p>")


def _follow_up_section(summary: dict, outcomes: list[dict], lesion_rows_by_visit: dict | None = None) -> str:
    """The cohort's follow-up (cohort_summary.json ``followup``): median and 18-month PFS with their
    intervals, the Kaplan-Meier chart, best responses and the lesions' dose-response
    (:func:`followup_sections.cohort_followup_section`), with links to the patients who have one.
    Nothing when neither the summary nor any patient's results carry follow-up."""
    cohort = next((summary.get(key) for key in FOLLOW_UP_KEYS if summary.get(key)), None)
    with_follow_up = [o for o in outcomes if o.get("status") == "ok"
                      and any((o.get("results") or {}).get(key) for key in FOLLOW_UP_KEYS)]
    if not cohort and not with_follow_up:
        return ""
    analysed = sum(1 for o in outcomes if o.get("status") == "ok")
    links = ", ".join(_id_cell(o) for o in with_follow_up) or "none"
    listing = (f'<p class="meta">{len(with_follow_up)} of {analysed} analysed patients have follow-up results: '
               f"{links}. Each lesion's course is in its patient's report.</p>")
    if not cohort:
        return '<h2 id="follow-up">Follow-up</h2>' + listing
    return f'<section id="follow-up">{cohort_followup_section(cohort, lesion_rows_by_visit)}{listing}</section>'


def _provenance(summary: dict, cohort_dir, output_dir, workers, generated: datetime) -> str:
    rows = [["software", f"IAHepaticPRRT {escape(__version__)}"],
            ["generated", escape(generated.strftime("%Y-%m-%d %H:%M"))]]
    if cohort_dir is not None:
        try:
            shown = os.path.relpath(Path(cohort_dir).resolve(), Path(output_dir).resolve()) if output_dir else None
        except ValueError:  # another drive (Windows): the folder's name only
            shown = None
        rows.append(["cohort folder (relative to this report)", escape(Path(shown or Path(cohort_dir).name).as_posix())])
    rows.append(["parallel workers (n)", "–" if workers is None else str(workers)])
    if summary.get("elapsed_s") is not None:
        rows.append(["elapsed time (s)", _num(summary["elapsed_s"])])
    rows.append(["unit of analysis", escape(str(summary.get("unit_of_analysis", "patient")))])
    primary = summary.get("primary_endpoint") or {}
    hl = primary.get("hodges_lehmann") or {}
    test = primary.get("wilcoxon_signed_rank") or {}
    mean = summary.get("mean_enhancement_ratio") or {}
    eligibility = summary.get("eligibility") or {}
    agreement = (summary.get("predicted_vs_delivered") or {}).get("bland_altman_log_dose") or {}
    definitions = [
        ["primary comparison", escape(str(primary.get("definition", "–")))],
        ["Wilcoxon signed-rank", escape(f"{test.get('method', '–')}; null hypothesis: {test.get('null_hypothesis', '–')}; "
                                        f"{test.get('alternative', 'two-sided')}")],
        ["Hodges-Lehmann", escape(f"{hl.get('method', '–')}; {hl.get('note', '')}")],
        ["mean of the patients' mean ratios", escape(
            f"Student-t interval; {((mean.get('cluster_bootstrap') or {}).get('method') or '–')} "
            f"({(mean.get('cluster_bootstrap') or {}).get('resamples', '–')} resamples, seed "
            f"{(mean.get('cluster_bootstrap') or {}).get('seed', '–')})")],
        ["eligible patients", escape(str(eligibility.get("method", "–")))],
        ["predicted versus delivered", escape(f"{agreement.get('quantity', '–')}; unit: "
                                              f"{agreement.get('unit_of_analysis', '–')}")],
    ]
    tests = [[escape(str(t.get("test", ""))), escape(str(t.get("group", ""))), escape(str(t.get("unit_of_analysis", ""))),
              str(t.get("n", "–")), _num(t.get("p_value"))] for t in summary.get("tests") or []]
    return ('<details class="provenance"><summary>Provenance and the tests\' definitions</summary>'
            + _table(["item", "value"], rows, left_columns=2, css_class="provenance-items")
            + "<h3>Definitions</h3>" + _table(["statistic", "definition"], definitions, left_columns=2,
                                              css_class="definitions")
            + "<h3>Every test of cohort_summary.json</h3>"
            + _table(["test", "group", "unit of analysis", "n", "p-value"], tests, left_columns=3, css_class="tests")
            + '<p class="meta">Methods and sources: docs/physics.md section 25.</p></details>')


def render_cohort_report(summary: dict, outcomes: list[dict], dose_groups: dict | None = None, *,
                         cohort_dir=None, output_dir=None, workers: int | None = None,
                         generated: datetime | None = None, followup_lesion_rows: dict | None = None) -> str:
    """The cohort report as one HTML string.

    ``summary`` is cohort_summary.json's content; ``outcomes`` the batch's per-patient outcomes
    (``manifest``, ``status``, ``error``, ``results`` = results.json's content, ``folder`` = the
    patient's output folder name, ``patient_id``, ``deidentify``); ``dose_groups`` maps a VOI-role key
    of ``summary["absorbed_dose_gy_per_role"]`` to ``{"label", "points": [(patient id, VOI, dose in Gy)]}``.
    ``cohort_dir`` and ``output_dir`` only make paths relative; ``workers`` goes to the provenance;
    ``followup_lesion_rows`` maps a visit to its evaluated lesions (dose, volume change) for the
    dose-response charts (:func:`iahepaticprrt.study.followup_cohort.lesion_rows_by_visit`).
    """
    generated = generated or datetime.now()
    outcomes = [dict(o, cohort_dir=cohort_dir) for o in outcomes]
    ok = [o for o in outcomes if o.get("status") == "ok"]
    styles = patient_styles([patient_id_of(o) for o in ok])
    body = ["<h1>Intra-arterial versus intravenous PRRT: cohort report</h1>",
            f'<p class="meta">{len(outcomes)} patient manifest{"s" if len(outcomes) != 1 else ""} &middot; generated '
            f'{escape(generated.strftime("%Y-%m-%d %H:%M"))} &middot; IAHepaticPRRT {escape(__version__)} &middot; '
            "patients shown by their IDs (the output folders' names), never by name</p>",
            _headline(summary, ok), _eligibility_table(outcomes), _forest_section(summary, outcomes),
            _dose_section(summary, dose_groups or {}, styles), _predicted_section(summary, outcomes, styles),
            _follow_up_section(summary, outcomes, followup_lesion_rows), _provenance(summary, cohort_dir, output_dir, workers, generated),
            '<p class="meta">Research software for a clinical trial; values must be reviewed before any clinical '
            "decision.</p>"]
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>IAHepaticPRRT cohort report</title>'
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


__all__ = ["render_cohort_report", "patient_id_of", "FOLLOW_UP_KEYS"]
