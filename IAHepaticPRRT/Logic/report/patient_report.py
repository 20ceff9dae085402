"""The patient report: one self-contained HTML file (inline SVG charts and PNG images, nothing external).

Read top to bottom as a physician would: the summary first (the eligibility verdict with its interval,
the therapy given, tumour and organ absorbed doses against the limits, one lesion's images), then the
images (every target lesion on both PET scans, maximum-intensity projections, the dose map over the
CT), the uptake and dosimetry details with their charts, the predicted against delivered doses, the
warnings (each once), and the provenance, collapsed, at the end; a sign-off block closes it.

Numbers follow :mod:`.formatting`: three significant digits, MBq or GBq, dates as dates, paths
relative to the study folder. A de-identified report (``deidentify``) holds no name, ID, birth date,
UID, absolute path or calendar date: dates become days from the intra-arterial 68Ga PET.
"""

from __future__ import annotations

from datetime import datetime
from html import escape

from ..version import __version__
from .formatting import (
    DASH,
    Presentation,
    activity,
    merged_warnings,
    parse_datetime,
    person_name,
    radionuclide,
    significant,
)
from .provenance_section import provenance_section
from .svg_plots import Series, grouped_bar_chart, line_chart, line_style

_CSS = """
body{font-family:Helvetica,Arial,sans-serif;margin:16px auto;max-width:1220px;padding:0 16px;color:#222;line-height:1.35}
h1{font-size:21px;margin:0 0 2px}h2{font-size:18px;border-bottom:2px solid #0072B2;padding-bottom:3px;margin-top:26px}
h3{font-size:15px;margin:14px 0 4px}.meta{color:#555;font-size:12.5px}
table{border-collapse:collapse;font-size:12.5px;margin:6px 0}th,td{border:1px solid #ccc;padding:2px 6px;text-align:right}
th{background:#eef3f8}td.l,th.l{text-align:left}
.followup{font-size:15px;padding:6px 12px;border-left:4px solid #0072B2;background:#eef5fb}
.verdict{font-size:17px;font-weight:bold;padding:8px 12px;border-radius:6px;margin:6px 0;display:inline-block}
.ok{background:#e8f6ec;border:2px solid #1e8449;color:#145a32}.no{background:#fdecea;border:2px solid #c0392b;color:#7b241c}
.warn{background:#fef5e7;border-left:4px solid #b9770e;padding:4px 10px;font-size:12.5px;margin:4px 0}
.exceeded{color:#c0392b;font-weight:bold}.signoff{margin-top:32px;border:1px solid #999;padding:14px;font-size:13px}
.signoff span{display:inline-block;min-width:260px;border-bottom:1px solid #555;margin-right:30px}
.summary{display:flex;gap:22px;align-items:flex-start;flex-wrap:wrap}.summary .facts{flex:1 1 560px;min-width:520px}
.facts table.therapy td{text-align:left}.facts table.therapy td.k{color:#555;background:#f7f9fb}
figure{margin:0}figcaption{font-size:12px;color:#444;max-width:410px}.key figcaption{max-width:540px}
.pair{display:flex;gap:6px}.pair div{text-align:center;font-size:12px}.pair img{display:block;border:1px solid #999}
.gallery{display:flex;flex-wrap:wrap;gap:18px}.charts{display:flex;flex-wrap:wrap;gap:16px}
.swatch{display:inline-block;width:22px;height:4px;vertical-align:middle;margin:0 4px 0 10px}
.wide{overflow-x:auto;max-width:100%}#provenance td{overflow-wrap:anywhere}
details{margin-top:26px}details>summary{font-size:18px;font-weight:bold;cursor:pointer}
"""

_LIMIT_LABELS = {"kidney_dose_gy": "kidney absorbed dose", "kidney_bed_gy": "kidney BED",
                 "bone_marrow_dose_gy": "bone marrow absorbed dose"}
_ROUTES = (("ia", "intra-arterial"), ("iv", "intravenous"))


def _n(value, digits: int = 3, unit: str = "") -> str:
    return significant(value, digits, unit)


def _setting(value) -> str:
    """A value the user set (a threshold), shown as set: 3, not 3.00."""
    return f"{value:g}" if isinstance(value, (int, float)) and not isinstance(value, bool) else _n(value)


def _table(header: list[str], rows: list[list[str]], left_columns: int = 1, css_class: str = "") -> str:
    head = "".join(f'<th class="{"l" if i < left_columns else ""}">{escape(h)}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left_columns else ""}">{c}</td>' for i, c in enumerate(r))
                   + "</tr>" for r in rows)
    css = f' class="{css_class}"' if css_class else ""
    return f'<div class="wide"><table{css}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _img(figure, alt: str, width: int | None = None) -> str:
    size = f' width="{width}"' if width else ""
    return f'<img src="{figure.data_uri()}" alt="{escape(alt)}"{size}>'


# ---- summary -----------------------------------------------------------------------------------
def _verdict(uptake: dict) -> str:
    ratio, threshold, eligible = (uptake.get("mean_enhancement_ratio"), uptake.get("threshold"),
                                  uptake.get("eligible"))
    if ratio is None:
        return '<div class="verdict no">No enhancement ratio: no target lesion could be measured on both scans</div>'
    verdict = "Eligible for the intra-arterial 177Lu cycle" if eligible else \
        "Not eligible for the intra-arterial 177Lu cycle"
    low, high = uptake.get("mean_enhancement_ratio_ci_low"), uptake.get("mean_enhancement_ratio_ci_high")
    interval = f" (interval {_n(low)} to {_n(high)})" if low is not None and high is not None else ""
    lesions = [v for v in uptake.get("vois", []) if v.get("role") == "target_lesion"]
    metric = {"suv_max": "SUVmax", "suv_peak": "SUVpeak"}.get(uptake.get("metric", "suv_max"), uptake.get("metric"))
    return (f'<div class="verdict {"ok" if eligible else "no"}">{verdict}: mean enhancement ratio {_n(ratio)}'
            f'{interval} {"&ge;" if eligible else "&lt;"} threshold {_setting(threshold)}</div>'
            f'<p class="meta">Enhancement ratio = {escape(metric)} intra-arterial / intravenous 68Ga PET, mean over '
            f"{len(lesions)} target lesion(s).</p>" + _certainty(uptake))


def _certainty(uptake: dict) -> str:
    """How sure the eligibility decision is: the mean ratio's interval (noise), the probability that the
    noise-free mean reaches the threshold, and the borderline flag."""
    low, high = uptake.get("mean_enhancement_ratio_ci_low"), uptake.get("mean_enhancement_ratio_ci_high")
    if low is None or high is None:
        return ""
    confidence = ((uptake.get("uncertainty") or {}).get("confidence") or 0.95) * 100
    probability = uptake.get("probability_mean_at_least_threshold")
    text = (f"{confidence:g} % interval of the mean ratio (scan noise): {_n(low)} to {_n(high)}; probability "
            f"that the noise-free mean ratio reaches {_setting(uptake.get('threshold'))}: {_n(probability, 2)}.")
    if uptake.get("borderline"):
        return f'<div class="warn"><b>Borderline:</b> the interval contains the threshold. {text}</div>'
    return f'<p class="meta">{text}</p>'


def _therapy(dosimetry: dict, show: Presentation) -> str:
    """The cycle's facts: what was given, when, and when it was imaged."""
    times = [p.get("time_h") for p in dosimetry.get("time_points", [])]
    nuclide = (dosimetry.get("radionuclide") or {}).get("name", "Lu-177")
    previous = len((dosimetry.get("limits") or {}).get("previous_cycles") or [])
    facts = [
        ("radiopharmaceutical", f"{_nuclide_html(nuclide)}-DOTATATE, intra-arterial (hepatic artery)"),
        ("cycle", escape(str(dosimetry.get("cycle") or previous + 1)) + (f" ({previous} previous)" if previous else "")),
        ("administered", activity(dosimetry.get("administered_activity_mbq"))),
        ("residual", activity(dosimetry.get("residual_activity_mbq"))),
        ("net administered", activity(dosimetry.get("net_administered_activity_mbq"))),
        ("administration", show.when(dosimetry.get("administration_datetime"))),
        ("SPECT/CT time points", (", ".join(_n(t) for t in times) + " h after administration") if times else DASH),
        ("method, model", escape(f"{dosimetry.get('method', '')}, {dosimetry.get('model', '')}")),
    ]
    body = "".join(f'<tr><td class="k">{escape(facts[i][0])}</td><td>{facts[i][1]}</td>'
                   + (f'<td class="k">{escape(facts[i + 1][0])}</td><td>{facts[i + 1][1]}</td>' if i + 1 < len(facts)
                      else "<td></td><td></td>") + "</tr>" for i in range(0, len(facts), 2))
    return f'<h3>Therapy</h3><table class="therapy"><tbody>{body}</tbody></table>'


def _nuclide_html(name: str) -> str:
    """"Lu-177" as <sup>177</sup>Lu, as a physician writes it."""
    cleaned = radionuclide(name)
    element, _, mass = cleaned.partition("-")
    return f"<sup>{escape(mass)}</sup>{escape(element)}" if mass else escape(cleaned)


def _dose_summary(dosimetry: dict) -> str:
    """Each lesion's and organ's absorbed dose, its uncertainty and its dose per GBq (net administered)."""
    net_gbq = (dosimetry.get("net_administered_activity_mbq") or 0.0) / 1000.0
    rows = []
    for voi in dosimetry.get("vois", []):
        if voi.get("role") == "other":
            continue
        dose = voi.get("absorbed_dose_gy")
        per_gbq = dose / net_gbq if isinstance(dose, (int, float)) and net_gbq > 0 else None
        rows.append([escape(voi.get("name", "")), _n(dose), _n(voi.get("absorbed_dose_uncertainty_gy"), 2),
                     _n(per_gbq), _n(voi.get("bed_gy"))])
    if not rows:
        return ""
    return ("<h3>Absorbed doses of this cycle</h3>"
            + _table(["VOI", "absorbed dose (Gy)", "± u (Gy)", "Gy per GBq", "BED (Gy)"], rows))


def _limits(dosimetry: dict) -> str:
    limits = (dosimetry.get("limits") or {}).get("limits") or {}
    if not limits:
        return ""
    rows = []
    for key, item in limits.items():
        exceeded = item.get("exceeded")
        status = "EXCEEDED" if exceeded else "below"
        if item.get("previous_cycles_missing"):
            status += f" ({item['previous_cycles_missing']} previous cycle(s) without a value)"
        rows.append([escape(_LIMIT_LABELS.get(key, key)), _n(item.get("this_cycle"), 3, "Gy"),
                     _n(item.get("previous_cycles"), 3, "Gy"), _n(item.get("cumulative"), 3, "Gy"),
                     _n(item.get("limit"), 3, "Gy"),
                     f'<span class="{"exceeded" if exceeded else ""}">{escape(status)}</span>',
                     escape(str(item.get("limit_source", "")))])
    kidney = (dosimetry.get("limits") or {}).get("kidney_voi")
    caption = "This cycle's values are the VOIs' absorbed doses (the first dose column of the dosimetry table)."
    if kidney:
        caption += f' Kidney values from the VOI "{escape(kidney)}" (the highest kidney absorbed dose).'
    return ("<h3>Cumulative doses against limits</h3>"
            + _table(["quantity", "this cycle", "previous cycles", "cumulative", "limit", "status", "source"], rows)
            + f'<p class="meta">{caption}</p>')


def _lesion_pair(lesion, width: int = 200) -> str:
    return (f'<div class="pair"><div>{_img(lesion.ia, f"{lesion.name}, intra-arterial PET", width)}'
            f"intra-arterial: SUVmax {_n(lesion.ia_suv_max)}</div>"
            f'<div>{_img(lesion.iv, f"{lesion.name}, intravenous PET", width)}'
            f"intravenous: SUVmax {_n(lesion.iv_suv_max)}</div></div>")


def _lesion_caption(lesion) -> str:
    return (f"{escape(lesion.name)}: axial 68Ga PET slices through each scan's SUVmax voxel (red cross), VOI "
            f"contour in blue, one grey scale for both (0 to {_n(lesion.window_max_suv)} SUV, darker = higher), "
            f"{_n(lesion.ia.caption.get('field_mm'))} mm field, patient's right on the left.")


def _summary(uptake: dict | None, dosimetry: dict | None, images, show: Presentation,
             followup: dict | None = None) -> str:
    facts = []
    if uptake:
        facts.append(_verdict(uptake))
    if followup:  # after the verdict: at a follow-up visit the response is what the reader looks for
        from .followup_sections import followup_headline

        facts.append(f'<p class="followup">Follow-up: {followup_headline(followup)} (section Follow-up, below)</p>')
    if dosimetry:
        facts.append(_therapy(dosimetry, show))
        facts.append(_dose_summary(dosimetry))
    key_image = ""
    if images is not None and images.lesions:
        lesion = images.lesions[0]
        key_image = (f'<figure class="key">{_lesion_pair(lesion, 260)}<figcaption>{_lesion_caption(lesion)} '
                     "All target lesions: Images, below.</figcaption></figure>")
    limits = _limits(dosimetry) if dosimetry else ""
    return (f'<section id="summary"><h2>Summary</h2><div class="summary"><div class="facts">{"".join(facts)}</div>'
            f"{key_image}</div>{limits}</section>")


# ---- images ------------------------------------------------------------------------------------
def _isodose_legend(caption: dict) -> str:
    return "".join(f'<span class="swatch" style="background:{colour}"></span>{level:g} Gy'
                   for level, colour in zip(caption.get("isodose_levels_gy", []), caption.get("isodose_colours", [])))


def _images_section(images) -> str:
    if images is None or not (images.lesions or images.mips or images.doses):
        return ""
    parts = ['<section id="images"><h2>Images</h2>']
    if images.lesions:
        parts.append("<h3>Target lesions on both 68Ga PET scans</h3><div class=\"gallery\">")
        for lesion in images.lesions:
            parts.append(f"<figure>{_lesion_pair(lesion)}<figcaption>{escape(lesion.name)}, window 0 to "
                         f"{_n(lesion.window_max_suv)} SUV</figcaption></figure>")
        parts.append('</div><p class="meta">Axial slices through each scan\'s SUVmax voxel (red cross: the voxel '
                     "whose value the tables report), VOI contour in blue; for each lesion one grey scale for both "
                     "scans, darker = higher uptake; patient's right on the image's left, anterior up.</p>")
    if images.mips:
        parts.append("<h3>Coronal maximum-intensity projections</h3><div class=\"gallery\">")
        for route, label in _ROUTES:
            if route in images.mips:
                parts.append(f"<figure>{_img(images.mips[route], f'{label} PET, coronal MIP', 300)}"
                             f"<figcaption>{label} 68Ga PET</figcaption></figure>")
        parts.append(f'</div><p class="meta">One grey scale for both, 0 to {_n(images.mip_window_max_suv)} SUV (the '
                     "highest target-lesion SUVmax), seen from the front, patient's right on the left.</p>")
    if images.doses:
        parts.append("<h3>Absorbed dose over the CT</h3><div class=\"gallery\">")
        for dose in images.doses:
            parts.append(f"<figure>{_img(dose.figure, f'absorbed dose at the level of {dose.label}', 360)}"
                         f"<figcaption>At the level of {escape(dose.label)} (slice maximum "
                         f"{_n(dose.figure.caption.get('slice_max_dose_gy'))} Gy). Isodose lines: "
                         f"{_isodose_legend(dose.figure.caption)}</figcaption></figure>")
        parts.append(f'</div><p class="meta">Background: {escape(images.dose_background)}; dose bands washed in '
                     "their isodose colour, VOI contours in white, "
                     f"{_n(images.doses[0].figure.caption.get('field_mm'))} mm field; patient's right on the "
                     "left.</p>")
    for note in images.notes:
        parts.append(f'<p class="meta">{escape(note)}</p>')
    parts.append("</section>")
    return "".join(parts)


# ---- uptake ------------------------------------------------------------------------------------
def _interval(entry: dict | None) -> str:
    if not entry or entry.get("ci_low") is None:
        return DASH
    return f"{_n(entry['ci_low'])} &ndash; {_n(entry['ci_high'])}"


def _reference_regions(uptake: dict) -> str:
    regions = uptake.get("reference_regions") or {}
    if not regions:
        return ""
    rows = []
    vois = uptake.get("vois", [])
    noise = (uptake.get("uncertainty") or {}).get("noise") or {}
    healthy_voi = next((v for v in vois if v.get("organ") == "healthy_liver" or v.get("name") == "Healthy liver"), {})
    sphere_voi = next((v for v in vois if v.get("role") == "reference"), {})
    for route, label in _ROUTES:
        info = regions.get(route) or {}
        healthy = info.get("healthy_liver") or {}
        sphere = info.get("reference_sphere") or {}
        scan_noise = noise.get(route) or {}
        centre = sphere.get("centre_lps_mm")
        rows.append([escape(label), escape(str(healthy["definition"])) if healthy.get("definition") else DASH,
                     _n((healthy_voi.get(route) or {}).get("volume_ml")), _n((healthy_voi.get(route) or {}).get("suv_max")),
                     _n((healthy_voi.get(route) or {}).get("suv_mean")),
                     escape(", ".join(f"{c:.1f}" for c in centre)) if centre else DASH,
                     _n((sphere_voi.get(route) or {}).get("suv_mean")), _n((sphere_voi.get(route) or {}).get("suv_std")),
                     _n(scan_noise.get("coefficient_of_variation"), 2),
                     escape(", ".join(f"{r:.2f}" for r in scan_noise.get("lag1_autocorrelation_ijk", []))) or DASH])
    table = _table(["scan", "healthy liver", "volume (mL)", "SUVmax", "SUVmean", "reference sphere centre (LPS mm)",
                    "sphere SUVmean", "sphere SUV SD", "noise CV", "lag-1 autocorrelation i, j, k"], rows, left_columns=2)
    return ("<h3>Reference regions and scan noise</h3>" + table
            + f'<p class="meta">Healthy liver: the liver minus the lesions dilated by '
              f'{_n(regions.get("healthy_liver_margin_mm"))} mm ({escape(str(regions.get("margin_rule", "")))}). '
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
        rows.append([escape(label + (" (primary)" if metric == uptake.get("metric") else "")), _n(mean),
                     _n(entry.get("noise_corrected_mean_ratio")), _interval(entry),
                     _n(entry.get("probability_at_least_threshold"), 2),
                     "yes" if entry.get("borderline") else ("no" if entry else DASH)])
    if not rows:
        return ""
    return ("<h3>Mean enhancement ratio and its uncertainty</h3>"
            + _table(["metric", "mean ratio", "noise-bias corrected", "interval", "P(mean ≥ threshold)",
                      "borderline"], rows)
            + '<p class="meta">Interval from each scan\'s noise measured in its reference region, the noise bias of '
              "SUVmax and SUVpeak removed by simulation-extrapolation (docs/physics.md section 23).</p>")


def _uptake_section(uptake: dict) -> str:
    vois = uptake.get("vois", [])
    metric = uptake.get("metric", "suv_max")
    label = {"suv_max": "SUVmax", "suv_peak": "SUVpeak"}.get(metric, metric)
    charted = [v for v in vois if v.get("role") != "other"]
    chart = grouped_bar_chart(
        [v.get("name", "") for v in charted],
        {"intra-arterial": [(v.get("ia") or {}).get(metric) for v in charted],
         "intravenous": [(v.get("iv") or {}).get(metric) for v in charted]},
        f"{label} per VOI", f"{label} ({uptake.get('suv_unit', 'g/mL')})")
    rows = []
    for v in vois:
        ia, iv = v.get("ia") or {}, v.get("iv") or {}
        rows.append([escape(v.get("name", "")), escape(v.get("role", "").replace("_", " ")),
                     _n(ia.get("suv_max")), _n(iv.get("suv_max")), _n(ia.get("suv_peak")), _n(iv.get("suv_peak")),
                     _n(ia.get("suv_mean")), _n(iv.get("suv_mean")), _n(ia.get("volume_ml")), _n(iv.get("volume_ml")),
                     _n(v.get("enhancement_ratio")),
                     _interval((v.get("enhancement_ratio_interval") or {}).get(metric)),
                     _n(v.get("enhancement_ratio_suv_peak")),
                     _interval((v.get("enhancement_ratio_interval") or {}).get("suv_peak"))])
    table = _table(["VOI", "role", "SUVmax IA", "SUVmax IV", "SUVpeak IA", "SUVpeak IV", "SUVmean IA", "SUVmean IV",
                    "volume IA (mL)", "volume IV (mL)", "enhancement ratio", "interval", "SUVpeak ratio",
                    "SUVpeak ratio interval"], rows, left_columns=2)
    ratios = uptake.get("ratios") or {}
    ratio_rows = []
    for kind in ("tumour_to_healthy_liver", "tumour_to_kidney", "tumour_to_spleen"):
        ia, iv = (ratios.get("ia") or {}).get(kind), (ratios.get("iv") or {}).get(kind)
        if ia or iv:
            ratio_rows.append([escape(kind.replace("_", " ")), _n((ia or {}).get("mean_target_lesions")),
                               _n((iv or {}).get("mean_target_lesions"))])
    ratio_html = ""
    if ratio_rows:
        ratio_html = ("<h3>Tumour-to-organ ratios (mean over target lesions)</h3>"
                      + _table(["ratio", "intra-arterial", "intravenous"], ratio_rows)
                      + f'<p class="meta">{escape(str(ratios.get("definition", "")))}</p>')
    calibration = uptake.get("cross_calibration") or {}
    factors = [(route, (calibration.get(route) or {}).get("factor")) for route, _ in _ROUTES]
    calibration_html = ""
    if calibration.get("site") or any(f not in (None, 1.0) for _, f in factors):
        calibration_html = (f'<p class="meta">Site: {escape(str(calibration.get("site") or "not given"))}; PET '
                            "cross-calibration factor applied to the SUV: "
                            + ", ".join(f"{route.upper()} {_n(f, 3)}" for route, f in factors) + ".</p>")
    return ('<section id="uptake"><h2>Uptake: intra-arterial versus intravenous 68Ga PET</h2>' + chart + table
            + _mean_ratios(uptake) + ratio_html + _reference_regions(uptake) + calibration_html + "</section>")


# ---- predicted versus delivered ----------------------------------------------------------------
def _predicted_section(comparison: dict) -> str:
    """Predicted (IV dose x 68Ga ratio) against delivered intra-arterial dose, organ doses of both routes,
    tumour-to-kidney and tumour-to-marrow ratios."""
    rows = []
    for e in comparison.get("lesions", []):
        interval = (DASH if e.get("predicted_ia_dose_ci_low_gy") is None else
                    f"{_n(e['predicted_ia_dose_ci_low_gy'])} &ndash; {_n(e['predicted_ia_dose_ci_high_gy'])}")
        rows.append([escape(e["name"]), _n(e.get("iv_dose_gy")), _n(e.get("enhancement_ratio")),
                     _n(e.get("predicted_ia_dose_gy")), interval, _n(e.get("delivered_ia_dose_gy")),
                     _n(e.get("delivered_to_predicted_ratio")), _n(e.get("ia_to_iv_dose_ratio"))])
    lesion_table = _table(["lesion", "IV dose (Gy)", "68Ga ratio", "predicted IA dose (Gy)", "interval (Gy)",
                           "delivered IA dose (Gy)", "delivered / predicted", "IA / IV dose"], rows)
    organ_rows = [[escape(o["name"]), _n(o.get("iv_dose_gy")), _n(o.get("ia_dose_gy")),
                   _n(o.get("ia_to_iv_dose_ratio"))] for o in comparison.get("organs", [])]
    organ_table = _table(["organ", "IV dose (Gy)", "IA dose (Gy)", "IA / IV"], organ_rows) if organ_rows else ""
    ratio_rows = []
    for kind, label in (("tumour_to_kidney", "tumour-to-kidney"), ("tumour_to_marrow", "tumour-to-marrow")):
        iv = (comparison.get("dose_ratios", {}).get("iv") or {}).get(kind) or {}
        ia = (comparison.get("dose_ratios", {}).get("ia") or {}).get(kind) or {}
        ratio_rows.append([escape(label), _n(iv.get("target_lesions_mean_ratio")),
                           _n(ia.get("target_lesions_mean_ratio"))])
    ratio_table = _table(["dose ratio (mean target-lesion dose / organ dose)", "intravenous", "intra-arterial"],
                         ratio_rows)
    reference = comparison.get("iv_reference") or {}
    note = (f'<p class="meta">{escape(str(comparison.get("definition", "")))}. IV dose: '
            f'{escape(str(reference.get("definition", "")))} (cycles {escape(", ".join(reference.get("cycles", [])))}). '
            f'Delivered dose: {escape(str(comparison.get("dose_quantity", "")))}.</p>')
    return ('<section id="predicted"><h2>Predicted versus delivered: the intra-arterial gain</h2>' + lesion_table
            + organ_table + ratio_table + note + "</section>")


# ---- dosimetry ---------------------------------------------------------------------------------
def _tac_chart(vois: list[dict], fitted: dict | None, title: str) -> str:
    series = []
    for index, v in enumerate(vois):
        tac = v.get("tac") or []
        color, _ = line_style(index)
        has_fit = bool(fitted and v.get("name") in fitted)
        series.append(Series(v.get("name", ""), [p.get("time_h") for p in tac], [p.get("activity_mbq") for p in tac],
                             color=color, line=not has_fit))
        if has_fit:
            times, values = fitted[v["name"]]
            series.append(Series(f"{v.get('name')} fit", times, values, color=color, markers=False, dashed=True,
                                 in_legend=False))
    return line_chart(series, title, "time after administration (h)", "activity (MBq)", y_log=True, x_min=0.0,
                      width=560)


def _dvh_chart(names: list[str], dvh: dict, title: str, x_max: float | None = None) -> str:
    series = []
    for index, name in enumerate(n for n in names if n in dvh):
        color, dash = line_style(index)
        dose, volume = dvh[name]
        series.append(Series(name, dose, volume, color=color, dash=dash, markers=False))
    return line_chart(series, title, "absorbed dose (Gy)", "volume (%)", x_min=0.0, width=560,
                      x_max=x_max) if series else ""


def _organ_dvh_axis(organs: list[dict]) -> tuple[list[str], float | None, str]:
    """The organs charted, the dose axis' end and a caption. The whole liver holds the lesions: with a
    healthy liver it is left out (its tail would squeeze the kidneys into the axis' first tenth), and
    the axis ends at 1.5 x the highest organ D2, so that every organ's curve fills it."""
    names = [v["name"] for v in organs]
    has_healthy = any(v.get("organ") == "healthy_liver" for v in organs)
    shown = [v for v in organs if not (has_healthy and v.get("organ") == "liver")]
    d2 = [v.get("d2_gy") for v in shown if isinstance(v.get("d2_gy"), (int, float))]
    x_max = 1.5 * max(d2) if d2 and max(d2) > 0 else None
    caption = ""
    if x_max is not None:
        caption = f"Organ axis to {_n(x_max)} Gy (1.5 x the highest organ D2); curves end there."
    if len(shown) < len(names):
        caption += " The whole liver, which holds the lesions, is left out: see the healthy liver."
    return [v["name"] for v in shown], x_max, caption


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
    dvh_caption = ""
    if dvh:
        organ_names, organ_axis_gy, dvh_caption = _organ_dvh_axis(organs)
        charts.append(_dvh_chart([v["name"] for v in lesions], dvh, "Dose-volume histograms: lesions"))
        charts.append(_dvh_chart(organ_names, dvh, "Dose-volume histograms: organs", organ_axis_gy))
    corrected = any(v.get("ldm_voi_dose_uncorrected_gy") is not None for v in vois)
    rows = []
    for v in vois:
        model_dose = v.get("sphere_model_dose_gy", v.get("organ_s_value_dose_gy"))
        row = [escape(v.get("name", "")), escape(v.get("role", "").replace("_", " ")), _n(v.get("absorbed_dose_gy")),
               _n(v.get("absorbed_dose_uncertainty_gy"), 2), _n(v.get("mass_g")), escape(str(v.get("model", ""))),
               _n(v.get("tia_mbqh")), _n(v.get("tia_uncertainty_mbqh"), 2), _n(v.get("residence_time_h")),
               _n(v.get("d2_gy")), _n(v.get("d50_gy")), _n(v.get("d98_gy")), _n(v.get("bed_gy")),
               _n(v.get("ldm_voi_dose_gy")), _n(model_dose)]
        if corrected:
            row.append(_n(v.get("ldm_voi_dose_uncorrected_gy")))
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
                                                    else "") + f". {escape(dvh_caption)}</p>")
    return ('<section id="dosimetry"><h2>Dosimetry: intra-arterial 177Lu cycle</h2>'
            f'<div class="charts">{"".join(charts)}</div>{table}{note}</section>')


# ---- warnings ----------------------------------------------------------------------------------
def _all_warnings(uptake: dict | None, dosimetry: dict | None, comparison: dict | None,
                  followup: dict | None = None) -> list[str]:
    warnings = []
    for part in (uptake, dosimetry):
        if part:
            warnings += [f"{v.get('name')}: {w}" for v in part.get("vois", []) for w in v.get("warnings", [])]
            warnings += list(part.get("warnings", []))
    if comparison:
        warnings += list(comparison.get("warnings", []))
    if followup:
        warnings += [f"follow-up: {w}" for w in followup.get("warnings", [])]
    return warnings


def _warnings_section(warnings: list[str], show: Presentation) -> str:
    merged = merged_warnings(warnings)
    if not merged:
        return ""
    items = "".join(f'<div class="warn">{show.text(text)}' + (f" (&times;{count})" if count > 1 else "") + "</div>"
                    for text, count in merged)
    return f'<section id="warnings"><h2>Warnings ({len(merged)})</h2>{items}</section>'


# ---- the page ----------------------------------------------------------------------------------
def day_zero_of(uptake: dict | None, dosimetry: dict | None) -> tuple[str | None, str]:
    """The date a de-identified report counts days from: the intra-arterial 68Ga PET, else the 177Lu
    administration."""
    suv_ia = (((uptake or {}).get("provenance") or {}).get("suv") or {}).get("ia") or {}
    for key in ("reference_time", "injection_time"):
        if suv_ia.get(key):
            return suv_ia[key], "the intra-arterial 68Ga PET"
    if dosimetry and dosimetry.get("administration_datetime"):
        return dosimetry["administration_datetime"], "the 177Lu administration"
    return None, ""


def render_report(uptake: dict | None = None, dosimetry: dict | None = None, patient: dict | None = None,
                  deidentify: bool = False, dvh: dict | None = None, fitted_curves: dict | None = None,
                  generated: datetime | None = None, predicted_vs_delivered: dict | None = None,
                  site: dict | None = None, images=None, study_folder: str | None = None,
                  followup: dict | None = None) -> str:
    """The whole report as one HTML string.

    ``uptake`` and ``dosimetry`` are the dictionaries written to uptake.json and dosimetry.json;
    ``dvh`` maps a VOI name to (dose_gy list, volume_percent list); ``fitted_curves`` maps a VOI
    name to (time_h list, activity_mbq list) sampled from its fitted model; ``images`` is a
    :class:`~iahepaticprrt.report.patient_images.PatientImages`; ``study_folder`` the folder paths
    are shown relative to (the manifest's).
    """
    patient = patient or {}
    generated = generated or datetime.now()
    day_zero, day_zero_label = day_zero_of(uptake, dosimetry)
    if day_zero is None and followup:
        day_zero, day_zero_label = followup.get("start_date"), "the start of the intra-arterial cycle"
    show = Presentation(deidentify, parse_datetime(day_zero), study_folder, day_zero_label)
    if deidentify:
        who = "de-identified" + (f" &middot; days counted from {escape(day_zero_label)} (day 0)" if day_zero else "")
        when = ""
    else:
        who = " &middot; ".join(x for x in (escape(person_name(patient.get("name"))), escape(str(patient.get("id") or "")))
                                if x) or "patient not named"
        when = f" &middot; generated {escape(generated.strftime('%Y-%m-%d %H:%M'))}"
    body = ["<h1>Intra-arterial versus intravenous PRRT: patient report</h1>",
            f'<p class="meta">{who}{when} &middot; IAHepaticPRRT {escape(__version__)}'
            + (f" &middot; site {escape(str(site['name']))}" if site and site.get("name") else "") + "</p>",
            _summary(uptake, dosimetry, images, show, followup), _images_section(images)]
    if uptake:
        body.append(_uptake_section(uptake))
    if dosimetry:
        body.append(_dosimetry_section(dosimetry, dvh, fitted_curves))
    if predicted_vs_delivered:
        body.append(_predicted_section(predicted_vs_delivered))
    if followup:  # response.json of the follow-up (report/followup_sections.py)
        from .followup_sections import patient_followup_section

        body.append(f'<section id="followup">{patient_followup_section(followup, show)}</section>')
    body.append(_warnings_section(_all_warnings(uptake, dosimetry, predicted_vs_delivered, followup), show))
    body.append(provenance_section(uptake, dosimetry, show))
    body.append('<div class="signoff"><b>Review and sign-off</b><br><br>Physician: <span>&nbsp;</span> '
                'Medical physicist: <span>&nbsp;</span><br><br>Date: <span>&nbsp;</span> Signature: <span>&nbsp;</span>'
                "<p class='meta'>Research software for a clinical trial; values must be reviewed before any clinical "
                "decision.</p></div>")
    title = "IAHepaticPRRT report" + ("" if deidentify or not patient.get("id") else f" {escape(str(patient['id']))}")
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")
