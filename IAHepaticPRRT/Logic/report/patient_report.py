"""The patient report: one self-contained HTML file (inline SVG plots, no external resources).

Order: summary first (eligibility with the mean enhancement ratio; absorbed doses against their
limits), then the uptake and dosimetry tables and plots, then provenance (inputs, parameters,
software version, warnings), and a sign-off block. ``deidentify`` leaves out the patient's name
and ID and reduces input paths to their last component (folder names often carry the ID).
"""

from __future__ import annotations

import math
from datetime import datetime
from html import escape
from pathlib import PurePath

from ..version import __version__
from .svg_plots import PALETTE, Series, grouped_bar_chart, line_chart

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1000px;color:#222;line-height:1.35}
h1{font-size:22px;margin-bottom:2px}h2{font-size:18px;border-bottom:2px solid #2471a3;padding-bottom:3px;margin-top:28px}
h3{font-size:15px;margin-bottom:4px}.meta{color:#555;font-size:13px}
table{border-collapse:collapse;font-size:12.5px;margin:8px 0}th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#eef3f8}td.l,th.l{text-align:left}
.verdict{font-size:18px;font-weight:bold;padding:10px 14px;border-radius:6px;margin:10px 0;display:inline-block}
.ok{background:#e8f6ec;border:2px solid #1e8449;color:#145a32}.no{background:#fdecea;border:2px solid #c0392b;color:#7b241c}
.warn{background:#fef5e7;border-left:4px solid #b9770e;padding:6px 10px;font-size:12.5px;margin:6px 0}
.exceeded{color:#c0392b;font-weight:bold}.signoff{margin-top:36px;border:1px solid #999;padding:14px;font-size:13px}
.signoff span{display:inline-block;min-width:260px;border-bottom:1px solid #555;margin-right:30px}
code{font-size:12px}.charts{display:flex;flex-wrap:wrap;gap:16px}
"""


def _num(value, digits: int = 3, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "&ndash;"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        text = f"{value:.{digits}g}" if abs(value) < 10 ** digits else f"{value:.0f}"
        return f"{text}{(' ' + unit) if unit else ''}"
    return escape(str(value))


def _table(header: list[str], rows: list[list[str]], left_columns: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left_columns else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left_columns else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _warnings(items) -> str:
    return "".join(f'<div class="warn">{escape(str(w))}</div>' for w in items or [])


def _path(value, deidentify: bool) -> str:
    if not isinstance(value, str):
        return _num(value)
    return escape(PurePath(value).name if deidentify else value)


_LIMIT_LABELS = {"kidney_dose_gy": "kidney absorbed dose", "kidney_bed_gy": "kidney BED",
                 "bone_marrow_dose_gy": "bone marrow absorbed dose"}


def _summary(uptake: dict | None, dosimetry: dict | None) -> str:
    parts = ["<h2>Summary</h2>"]
    if uptake:
        ratio, threshold = uptake.get("mean_enhancement_ratio"), uptake.get("threshold")
        eligible = uptake.get("eligible")
        verdict = ("Eligible for the intra-arterial 177Lu cycle" if eligible else
                   "Not eligible for the intra-arterial 177Lu cycle")
        parts.append(f'<div class="verdict {"ok" if eligible else "no"}">{verdict}: mean enhancement ratio '
                     f'{_num(ratio)} {"&ge;" if eligible else "&lt;"} threshold {_num(threshold)}</div>')
        parts.append(_certainty(uptake))
        lesions = [v for v in uptake.get("vois", []) if v.get("role") == "target_lesion"]
        parts.append(f'<p class="meta">Enhancement ratio = {escape(uptake.get("metric", "suv_max"))} '
                     f"intra-arterial / intravenous, mean over {len(lesions)} target lesion(s).</p>")
    if dosimetry:
        limits = ((dosimetry.get("limits") or {}).get("limits") or {})
        if limits:
            rows = []
            for key, item in limits.items():
                exceeded = item.get("exceeded")
                status = "EXCEEDED" if exceeded else "below"
                if item.get("previous_cycles_missing"):
                    status += f" ({item['previous_cycles_missing']} previous cycle(s) without a value)"
                rows.append([escape(_LIMIT_LABELS.get(key, key)), _num(item.get("this_cycle"), 3, "Gy"),
                             _num(item.get("previous_cycles"), 3, "Gy"), _num(item.get("cumulative"), 3, "Gy"),
                             _num(item.get("limit"), 3, "Gy"),
                             f'<span class="{"exceeded" if exceeded else ""}">{escape(status)}</span>',
                             escape(str(item.get("limit_source", "")))])
            parts.append("<h3>Absorbed doses against limits</h3>")
            parts.append(_table(["quantity", "this cycle", "previous cycles", "cumulative", "limit", "status",
                                 "source"], rows))
            kidney = (dosimetry.get("limits") or {}).get("kidney_voi")
            caption = ("This cycle's values are the VOIs' absorbed doses (absorbed_dose_gy, the first dose column of "
                       "the dosimetry table, with its method there).")
            if kidney:
                caption += f' Kidney values from the VOI "{escape(kidney)}" (the highest kidney absorbed dose).'
            parts.append(f'<p class="meta">{caption}</p>')
    return "".join(parts)


def _certainty(uptake: dict) -> str:
    """How sure the eligibility decision is: the mean ratio's interval (noise), the probability that the
    noise-free mean reaches the threshold, and the borderline flag."""
    low, high = uptake.get("mean_enhancement_ratio_ci_low"), uptake.get("mean_enhancement_ratio_ci_high")
    if low is None or high is None:
        return ""
    confidence = ((uptake.get("uncertainty") or {}).get("confidence") or 0.95) * 100
    probability = uptake.get("probability_mean_at_least_threshold")
    text = (f"{confidence:g} % interval of the mean ratio (scan noise): {_num(low)} to {_num(high)}; probability "
            f"that the noise-free mean ratio reaches {_num(uptake.get('threshold'))}: {_num(probability, 2)}.")
    if uptake.get("borderline"):
        return f'<div class="warn"><b>Borderline:</b> the interval contains the threshold. {text}</div>'
    return f'<p class="meta">{text}</p>'


def _interval(entry: dict | None) -> str:
    if not entry or entry.get("ci_low") is None:
        return "&ndash;"
    return f"{_num(entry['ci_low'])} &ndash; {_num(entry['ci_high'])}"


def _reference_regions(uptake: dict) -> str:
    regions = uptake.get("reference_regions") or {}
    if not regions:
        return ""
    rows = []
    vois = {v.get("name"): v for v in uptake.get("vois", [])}
    noise = (uptake.get("uncertainty") or {}).get("noise") or {}
    for route, label in (("ia", "intra-arterial"), ("iv", "intravenous")):
        info = regions.get(route) or {}
        healthy = info.get("healthy_liver") or {}
        sphere = info.get("reference_sphere") or {}
        healthy_voi = next((v for v in vois.values() if v.get("organ") == "healthy_liver"), {})
        sphere_voi = next((v for v in vois.values() if v.get("role") == "reference"), {})
        scan_noise = noise.get(route) or {}
        centre = sphere.get("centre_lps_mm")
        rows.append([escape(label), (escape(str(healthy["definition"])) if healthy.get("definition") else "&ndash;"),
                     _num((healthy_voi.get(route) or {}).get("volume_ml")),
                     _num((healthy_voi.get(route) or {}).get("suv_max")),
                     _num((healthy_voi.get(route) or {}).get("suv_mean")),
                     escape(", ".join(f"{c:.1f}" for c in centre)) if centre else "&ndash;",
                     _num((sphere_voi.get(route) or {}).get("suv_mean")), _num((sphere_voi.get(route) or {}).get("suv_std")),
                     _num(scan_noise.get("coefficient_of_variation"), 2),
                     escape(", ".join(f"{r:.2f}" for r in scan_noise.get("lag1_autocorrelation_ijk", []))) or "&ndash;"])
    table = _table(["scan", "healthy liver", "volume (mL)", "SUVmax", "SUVmean", "reference sphere centre (LPS mm)",
                    "sphere SUVmean", "sphere SUV SD", "noise CV", "lag-1 autocorrelation i, j, k"], rows, left_columns=2)
    return ("<h3>Reference regions and scan noise</h3>" + table
            + f'<p class="meta">Healthy liver: the liver minus the lesions dilated by '
              f'{_num(regions.get("healthy_liver_margin_mm"))} mm ({escape(str(regions.get("margin_rule", "")))}). '
              "Liver reference sphere: 30 mm (PERCIST), placed farthest from the liver surface and the lesions unless "
              "given. VOIs that contain lesions (whole liver, body) report no SUVmax or SUVpeak.</p>")


def _mean_ratios(uptake: dict) -> str:
    uncertainty = uptake.get("uncertainty") or {}
    rows = []
    for metric, label in (("suv_max", "SUVmax"), ("suv_peak", "SUVpeak")):
        entry = uncertainty.get(metric) or {}
        mean = uptake.get(f"mean_enhancement_ratio_{metric}")
        if mean is None:
            continue
        rows.append([escape(label + (" (primary)" if metric == uptake.get("metric") else "")), _num(mean),
                     _num(entry.get("noise_corrected_mean_ratio")), _interval(entry),
                     _num(entry.get("probability_at_least_threshold"), 2),
                     "yes" if entry.get("borderline") else ("no" if entry else "&ndash;")])
    if not rows:
        return ""
    return ("<h3>Mean enhancement ratio and its uncertainty</h3>"
            + _table(["metric", "mean ratio", "noise-bias corrected", "interval", "P(mean ≥ threshold)",
                      "borderline"], rows)
            + '<p class="meta">Interval from each scan\'s noise measured in its reference region, the noise bias of '
              "SUVmax and SUVpeak removed by simulation-extrapolation (docs/physics.md section 23).</p>")


def _uptake_section(uptake: dict, deidentify: bool) -> str:
    vois = uptake.get("vois", [])
    metric = uptake.get("metric", "suv_max")
    charted = [v for v in vois if v.get("role") != "other"]
    chart = grouped_bar_chart(
        [v.get("name", "") for v in charted],
        {"intra-arterial (day 0)": [(v.get("ia") or {}).get(metric) for v in charted],
         "intravenous (day 3)": [(v.get("iv") or {}).get(metric) for v in charted]},
        f"{metric} per VOI", f"{metric} ({uptake.get('suv_unit', 'g/mL')})")
    rows = []
    for v in vois:
        ia, iv = v.get("ia") or {}, v.get("iv") or {}
        rows.append([escape(v.get("name", "")), escape(v.get("role", "")),
                     _num(ia.get("suv_max")), _num(iv.get("suv_max")), _num(ia.get("suv_peak")), _num(iv.get("suv_peak")),
                     _num(ia.get("suv_mean")), _num(iv.get("suv_mean")), _num(ia.get("volume_ml")), _num(iv.get("volume_ml")),
                     _num(v.get("enhancement_ratio")),
                     _interval((v.get("enhancement_ratio_interval") or {}).get(metric)),
                     _num(v.get("enhancement_ratio_suv_peak")),
                     _interval((v.get("enhancement_ratio_interval") or {}).get("suv_peak"))])
    table = _table(["VOI", "role", "SUVmax IA", "SUVmax IV", "SUVpeak IA", "SUVpeak IV", "SUVmean IA", "SUVmean IV",
                    "volume IA (mL)", "volume IV (mL)", "enhancement ratio", "interval", "SUVpeak ratio",
                    "SUVpeak ratio interval"], rows, left_columns=2)
    ratios = uptake.get("ratios") or {}
    ratio_rows = []
    for kind in ("tumour_to_healthy_liver", "tumour_to_kidney", "tumour_to_spleen"):
        ia, iv = (ratios.get("ia") or {}).get(kind), (ratios.get("iv") or {}).get(kind)
        if ia or iv:
            ratio_rows.append([escape(kind.replace("_", " ")), _num((ia or {}).get("mean_target_lesions")),
                               _num((iv or {}).get("mean_target_lesions"))])
    ratio_html = ""
    if ratio_rows:
        ratio_html = ("<h3>Tumour-to-organ ratios (mean over target lesions)</h3>"
                      + _table(["ratio", "intra-arterial", "intravenous"], ratio_rows)
                      + f'<p class="meta">{escape(str(ratios.get("definition", "")))}</p>')
    voi_warnings = [f"{v.get('name')}: {w}" for v in vois for w in v.get("warnings", [])]
    calibration = uptake.get("cross_calibration") or {}
    factors = [(route, (calibration.get(route) or {}).get("factor")) for route in ("ia", "iv")]
    calibration_html = ""
    if calibration.get("site") or any(f not in (None, 1.0) for _, f in factors):
        calibration_html = (f'<p class="meta">Site: {escape(str(calibration.get("site") or "not given"))}; PET '
                            "cross-calibration factor applied to the SUV: "
                            + ", ".join(f"{route.upper()} {_num(f, 4)}" for route, f in factors) + ".</p>")
    return ("<h2>Uptake: intra-arterial versus intravenous 68Ga PET</h2>" + chart + table + _mean_ratios(uptake)
            + ratio_html + _reference_regions(uptake) + calibration_html
            + _warnings(voi_warnings + list(uptake.get("warnings", []))))


def _predicted_section(comparison: dict) -> str:
    """Predicted (IV dose x 68Ga ratio) against delivered intra-arterial dose, organ doses of both routes,
    tumour-to-kidney and tumour-to-marrow ratios."""
    rows = []
    for e in comparison.get("lesions", []):
        interval = ("&ndash;" if e.get("predicted_ia_dose_ci_low_gy") is None else
                    f"{_num(e['predicted_ia_dose_ci_low_gy'])} &ndash; {_num(e['predicted_ia_dose_ci_high_gy'])}")
        rows.append([escape(e["name"]), _num(e.get("iv_dose_gy")), _num(e.get("enhancement_ratio")),
                     _num(e.get("predicted_ia_dose_gy")), interval, _num(e.get("delivered_ia_dose_gy")),
                     _num(e.get("delivered_to_predicted_ratio")), _num(e.get("ia_to_iv_dose_ratio"))])
    lesion_table = _table(["lesion", "IV dose (Gy)", "68Ga ratio", "predicted IA dose (Gy)", "interval (Gy)",
                           "delivered IA dose (Gy)", "delivered / predicted", "IA / IV dose"], rows)
    organ_rows = [[escape(o["name"]), _num(o.get("iv_dose_gy")), _num(o.get("ia_dose_gy")),
                   _num(o.get("ia_to_iv_dose_ratio"))] for o in comparison.get("organs", [])]
    organ_table = _table(["organ", "IV dose (Gy)", "IA dose (Gy)", "IA / IV"], organ_rows) if organ_rows else ""
    ratio_rows = []
    for kind, label in (("tumour_to_kidney", "tumour-to-kidney"), ("tumour_to_marrow", "tumour-to-marrow")):
        iv = (comparison.get("dose_ratios", {}).get("iv") or {}).get(kind) or {}
        ia = (comparison.get("dose_ratios", {}).get("ia") or {}).get(kind) or {}
        ratio_rows.append([escape(label), _num(iv.get("target_lesions_mean_ratio")),
                           _num(ia.get("target_lesions_mean_ratio"))])
    ratio_table = _table(["dose ratio (mean target-lesion dose / organ dose)", "intravenous", "intra-arterial"],
                         ratio_rows)
    reference = comparison.get("iv_reference") or {}
    note = (f'<p class="meta">{escape(str(comparison.get("definition", "")))}. IV dose: '
            f'{escape(str(reference.get("definition", "")))} (cycles {escape(", ".join(reference.get("cycles", [])))}). '
            f'Delivered dose: {escape(str(comparison.get("dose_quantity", "")))}.</p>')
    return ("<h2>Predicted versus delivered: the intra-arterial gain</h2>" + lesion_table + organ_table
            + ratio_table + note + _warnings(comparison.get("warnings", [])))


def _tac_chart(vois: list[dict], fitted: dict | None, title: str) -> str:
    series = []
    for index, v in enumerate(vois):
        tac = v.get("tac") or []
        color = PALETTE[index % len(PALETTE)]
        has_fit = bool(fitted and v.get("name") in fitted)
        series.append(Series(v.get("name", ""), [p.get("time_h") for p in tac], [p.get("activity_mbq") for p in tac],
                             color=color, line=not has_fit))
        if has_fit:
            times, values = fitted[v["name"]]
            series.append(Series(f"{v.get('name')} fit", times, values, color=color, markers=False, dashed=True,
                                 in_legend=False))
    return line_chart(series, title, "time after administration (h)", "activity (MBq)", y_log=True, x_min=0.0,
                      width=490)


def _method_caption(vois: list[dict]) -> str:
    """Each distinct ``absorbed_dose_method`` sentence once, with the VOIs it applies to."""
    methods: dict[str, list[str]] = {}
    for v in vois:
        if v.get("absorbed_dose_method"):
            methods.setdefault(v["absorbed_dose_method"], []).append(v.get("name", ""))
    return " ".join(f"{escape(method)} ({escape(', '.join(names))})." for method, names in methods.items())


def _dosimetry_section(dosimetry: dict, dvh: dict | None, fitted: dict | None) -> str:
    vois = dosimetry.get("vois", [])
    lesions = [v for v in vois if v.get("role") in ("target_lesion", "extrahepatic_lesion")]
    organs = [v for v in vois if v.get("role") == "organ"]
    charts = []
    if lesions:
        charts.append(_tac_chart(lesions, fitted, "Time-activity curves: lesions (dashed: fit)"))
    if organs:
        charts.append(_tac_chart(organs, fitted, "Time-activity curves: organs (dashed: fit)"))
    if dvh:
        dvh_series = [Series(name, dose, volume, markers=False) for name, (dose, volume) in dvh.items()]
        charts.append(line_chart(dvh_series, "Cumulative dose-volume histograms of the absorbed dose map",
                                 "absorbed dose (Gy)", "volume (%)", x_min=0.0, width=490))
    corrected = any(v.get("ldm_voi_dose_uncorrected_gy") is not None for v in vois)
    rows = []
    for v in vois:
        model_dose = v.get("sphere_model_dose_gy", v.get("organ_s_value_dose_gy"))
        row = [escape(v.get("name", "")), escape(v.get("role", "")), _num(v.get("absorbed_dose_gy")),
               _num(v.get("absorbed_dose_uncertainty_gy"), 2), _num(v.get("mass_g"), 4), escape(str(v.get("model", ""))),
               _num(v.get("tia_mbqh"), 4), _num(v.get("tia_uncertainty_mbqh"), 2), _num(v.get("residence_time_h")),
               _num(v.get("d2_gy")), _num(v.get("d50_gy")), _num(v.get("d98_gy")), _num(v.get("bed_gy")),
               _num(v.get("ldm_voi_dose_gy")), _num(model_dose)]
        if corrected:
            row.append(_num(v.get("ldm_voi_dose_uncorrected_gy")))
        rows.append(row)
    header = ["VOI", "role", "absorbed dose (Gy)", "u(absorbed dose) (Gy)", "mass (g)", "model", "TIA (MBq h)",
              "u(TIA) (MBq h)", "residence time (h)", "D2 (Gy)", "D50 (Gy)", "D98 (Gy)", "BED (Gy)",
              "secondary: LDM from VOI TIA (Gy)", "secondary: sphere / organ S-value dose (Gy)"]
    if corrected:
        header.append("secondary: LDM without partial-volume correction (Gy)")
    table = _table(header, rows, left_columns=2)
    note = ('<p class="meta">Absorbed dose (used by the limits, the BED, the DVHs and cohort.csv): '
            f"{_method_caption(vois)} D2, D50, D98 and the DVHs come from the same dose map. Secondary columns: "
            "LDM from VOI TIA = 0.08532 Gy g/(MBq h) x TIA / mass; sphere model (lesions) and OpenDose organ "
            "S-values (liver, spleen, kidneys)" + ("; the same LDM without the partial-volume correction" if corrected
                                                    else "") + ".</p>")
    parts = ["<h2>Dosimetry: intra-arterial 177Lu cycle</h2>", f'<div class="charts">{"".join(charts)}</div>',
             table, note]
    voi_warnings = [f"{v.get('name')}: {w}" for v in vois for w in v.get("warnings", [])]
    parts.append(_warnings(voi_warnings + list(dosimetry.get("warnings", []))))
    return "".join(parts)


def _provenance(uptake: dict | None, dosimetry: dict | None, deidentify: bool) -> str:
    rows = []

    def walk(prefix, value):
        if isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}.{key}" if prefix else key, item)
        elif isinstance(value, list) and value and all(not isinstance(v, (dict, list)) for v in value):
            rows.append([escape(prefix), ", ".join(_path(v, deidentify) for v in value)])
        elif isinstance(value, list):
            for i, item in enumerate(value):
                walk(f"{prefix}[{i}]", item)
        else:
            rows.append([escape(prefix), _path(value, deidentify)])

    if uptake and uptake.get("provenance"):
        walk("uptake", uptake["provenance"])
    if dosimetry and dosimetry.get("provenance"):
        walk("dosimetry", dosimetry["provenance"])
    table = _table(["item", "value"], rows, left_columns=2) if rows else "<p>No provenance recorded.</p>"
    return f"<h2>Provenance</h2><p class='meta'>IAHepaticPRRT {escape(__version__)}</p>{table}"


def render_report(uptake: dict | None = None, dosimetry: dict | None = None, patient: dict | None = None,
                  deidentify: bool = False, dvh: dict | None = None, fitted_curves: dict | None = None,
                  generated: datetime | None = None, predicted_vs_delivered: dict | None = None,
                  site: dict | None = None) -> str:
    """The whole report as one HTML string.

    ``uptake`` and ``dosimetry`` are the dictionaries written to uptake.json and dosimetry.json;
    ``dvh`` maps a VOI name to (dose_gy list, volume_percent list); ``fitted_curves`` maps a VOI
    name to (time_h list, activity_mbq list) sampled from its fitted model.
    """
    patient = patient or {}
    generated = generated or datetime.now()
    if deidentify:
        who = "de-identified"
    else:
        who = " &middot; ".join(escape(str(patient[k])) for k in ("name", "id") if patient.get(k)) or "patient not named"
    body = ["<h1>Intra-arterial versus intravenous PRRT: patient report</h1>",
            f'<p class="meta">{who} &middot; generated {escape(generated.strftime("%Y-%m-%d %H:%M"))} '
            f"&middot; IAHepaticPRRT {escape(__version__)}"
            + (f" &middot; site {escape(str(site['name']))}" if site and site.get("name") else "") + "</p>",
            _summary(uptake, dosimetry)]
    if uptake:
        body.append(_uptake_section(uptake, deidentify))
    if dosimetry:
        body.append(_dosimetry_section(dosimetry, dvh, fitted_curves))
    if predicted_vs_delivered:
        body.append(_predicted_section(predicted_vs_delivered))
    body.append(_provenance(uptake, dosimetry, deidentify))
    body.append('<div class="signoff"><b>Review and sign-off</b><br><br>Physician: <span>&nbsp;</span> '
                'Medical physicist: <span>&nbsp;</span><br><br>Date: <span>&nbsp;</span> Signature: <span>&nbsp;</span>'
                "<p class='meta'>Research software for a clinical trial; values must be reviewed before any clinical "
                "decision.</p></div>")
    title = "IAHepaticPRRT report" + ("" if deidentify or not patient.get("id") else f" {escape(str(patient['id']))}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")
