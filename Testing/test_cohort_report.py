"""The cohort report written by ``batch`` (issue 16, part 3): a small cohort of two synthetic patients and
one whose manifest names a PET folder that does not exist, and the report's plots on known inputs.

The cohort reuses test_batch's manifest helper and the session's cached --small phantoms (test_batch's
P1 and P4), so it adds two patient runs to the suite. Every expected value below is either a literal with
its source or read from the patient's own results.json / cohort.csv / cohort_summary.json (the files
the report must agree with), never from the module under test.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import statistics
import urllib.parse
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.report.cohort_plots import (ForestRow, StripGroup, format_number, forest_plot, log_ticks,
                                               scatter_log_log, strip_plot)
from iahepaticprrt.report.cohort_report import _clean_error, _follow_up_section

import phantom_checks
from test_batch import _manifest

#: Earlier intravenous cycles' doses of P1 (as in test_pipeline): Lesions 1 to 3 only, so P1 has 3 lesions
#: with both a predicted and a delivered dose.
IV_CYCLE_DOSES = {"Lesion 1": 8.0, "Lesion 2": 5.0, "Lesion 3": 6.0, "Left kidney": 3.6, "Right kidney": 3.4,
                  "Bone marrow": 0.25}
SVG_NS = "{http://www.w3.org/2000/svg}"


# ---- the cohort ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory):
    cohort = tmp_path_factory.mktemp("report_cohort") / "cohort"
    cohort.mkdir()
    p1 = _manifest(phantom_checks.phantom(tmp_path_factory, vendor="siemens", noise=False, seed=1), "P1")  # site A
    for cycle in p1["dosimetry"]["previous_cycles"]:
        cycle.update(route="iv", administered_mbq=7400.0, voi_doses_gy=IV_CYCLE_DOSES)
    (cohort / "P1.json").write_text(json.dumps(p1))
    # A noisy patient (an interval of real width), de-identified, with an ID a folder name cannot hold; no site.
    noisy = _manifest(phantom_checks.phantom(tmp_path_factory, vendor="siemens", noise=True, seed=2), "NET/002")
    noisy["report"] = {"deidentify": True}
    (cohort / "P2.json").write_text(json.dumps(noisy))
    broken = json.loads(json.dumps(p1))
    broken["patient"]["id"] = "P9"
    broken["uptake"]["ia"]["pet"] = str(cohort / "P9-missing" / "pet")
    (cohort / "P9.json").write_text(json.dumps(broken))
    out = tmp_path_factory.mktemp("report_batch") / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        status = main(["batch", str(cohort), "-o", str(out), "--workers", "2", "--no-progress"])
    page = (out / "cohort_report.html").read_text(encoding="utf-8")
    return {"status": status, "cohort": cohort, "out": out, "stdout": json.loads(stdout.getvalue()), "page": page,
            "summary": json.loads((out / "cohort_summary.json").read_text()),
            "results": {pid: json.loads((out / folder / "results.json").read_text())
                        for pid, folder in (("P1", "P1"), ("NET/002", "NET%2F002"))}}


class _Page(HTMLParser):
    """Tables (class, rows of cell texts), links (href, text), and every tag mismatch as an error."""

    VOID = {"meta", "br", "hr", "img", "input", "link", "wbr", "col", "area", "base", "source"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.errors, self.stack, self.tables, self.links = [], [], [], []
        self._cell = self._row = self._link = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag not in self.VOID:
            self.stack.append(tag)
        if tag == "table":
            self.tables.append({"class": attrs.get("class", ""), "rows": []})
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""
        elif tag == "a":
            self._link = [attrs.get("href"), ""]

    def handle_startendtag(self, tag, attrs):  # <line .../> inside SVG: complete in itself
        pass

    def handle_endtag(self, tag):
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes <{self.stack[-1] if self.stack else None}>")
        else:
            self.stack.pop()
        if tag in ("td", "th") and self._row is not None:
            self._row.append(self._cell.strip())
            self._cell = None
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append(self._row)
        elif tag == "a" and self._link:
            self.links.append(tuple(self._link))
            self._link = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        if self._link is not None:
            self._link[1] += data


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    return parser


def _table(page: str, css_class: str) -> list[list[str]]:
    [table] = [t for t in _parse(page).tables if t["class"] == css_class]
    return table["rows"]


def _svg(page: str, label_start: str) -> ET.Element:
    [text] = re.findall(rf'<svg[^>]*aria-label="{re.escape(label_start)}[^"]*".*?</svg>', page, flags=re.S)
    return ET.fromstring(text)


def _elements(svg: ET.Element, tag: str, css_class: str) -> list[ET.Element]:
    return [e for e in svg.iter(SVG_NS + tag) if css_class in (e.get("class") or "").split()]


def _log_axis(svg: ET.Element, css_class: str, coordinate: str):
    """The data-to-pixel map of a logarithmic axis, fitted to its tick labels (value, pixel): pixel = a +
    b log10(value). The ticks must lie on it (a log axis) to 0.1 px, the rounding of the SVG coordinates."""
    ticks = [(float(t.text), float(t.get(coordinate))) for t in _elements(svg, "text", css_class)]
    assert len(ticks) >= 3
    logs, pixels = np.log10([v for v, _ in ticks]), np.array([p for _, p in ticks])
    b, a = np.polyfit(logs, pixels, 1)
    assert np.max(np.abs(a + b * logs - pixels)) < 0.1
    return lambda value: a + b * math.log10(value), lambda pixel: 10 ** ((pixel - a) / b)


def _three_digits(value: float) -> float:
    """``value`` to 3 significant digits, by Python's own formatting (the report's rule)."""
    return float(f"{value:.3g}")


# ---- outputs ------------------------------------------------------------------------------------------
def test_the_page_is_written_and_listed_among_the_outputs(cohort_run):
    out = cohort_run["out"]
    assert cohort_run["status"] == 4  # one patient failed
    assert cohort_run["stdout"]["outputs"]["cohort_report_html"] == str(out / "cohort_report.html")
    assert cohort_run["summary"]["outputs"] == cohort_run["stdout"]["outputs"]
    assert sorted(cohort_run["summary"]["outputs"]) == ["cohort_csv", "cohort_report_html", "cohort_summary_json"]
    assert all(os.path.isfile(path) for path in cohort_run["summary"]["outputs"].values())
    assert not [p.name for p in out.iterdir() if p.name.startswith(".cohort_report")]  # no temporary file left


def test_every_patient_is_linked_to_its_report_and_the_failed_one_shows_its_error(cohort_run):
    page, out = cohort_run["page"], cohort_run["out"]
    links = {text: href for href, text in _parse(page).links}
    # Folder "NET%2F002" (the batch percent-encodes "/"); in a URL its "%" is itself encoded as %25 (RFC 3986).
    assert links["NET/002"] == "NET%252F002/report.html"
    assert links["P1"] == "P1/report.html"
    for patient_id in ("P1", "NET/002"):
        assert (out / urllib.parse.unquote(links[patient_id])).is_file()
    assert "P9" not in links  # no report to link to
    [failed] = _table(page, "failed-patients")[1:]
    assert failed[0] == "P9" and failed[1] == "P9.json"
    # The manifest's error, its paths inside the cohort folder shown relative to it.
    assert failed[2] == "error: P9.json: uptake.ia.pet: 'P9-missing/pet' does not exist (relative paths start at " \
                        "the manifest's folder)"
    assert str(cohort_run["cohort"]) not in page and str(out) not in page  # no absolute path of the cohort


def test_eligibility_table_shows_each_patients_numbers_of_results_json_and_cohort_csv(cohort_run):
    rows = _table(cohort_run["page"], "eligibility")
    header, body = rows[0], {row[0]: row for row in rows[1:]}
    assert header[2] == "mean enhancement ratio, SUVmax IA / IV (unitless)"  # the phantoms' metric: suv_max
    assert all("(" in h for h in header[2:5] + header[7:10])  # a unit (or "unitless") in every quantity's header
    with open(cohort_run["out"] / "cohort.csv", newline="") as f:
        csv_rows = list(csv.DictReader(f))
    for patient_id, results in cohort_run["results"].items():
        uptake = results["uptake"]
        limits = results["dosimetry"]["limits"]["limits"]
        row = body[patient_id]
        [csv_ratio] = {float(r["mean_enhancement_ratio"]) for r in csv_rows if r["patient_id"] == patient_id}
        assert float(row[2]) == _three_digits(uptake["mean_enhancement_ratio"]) == _three_digits(csv_ratio)
        low, high = (float(v) for v in row[3].split(" – "))
        assert (low, high) == (_three_digits(uptake["mean_enhancement_ratio_ci_low"]),
                               _three_digits(uptake["mean_enhancement_ratio_ci_high"]))
        assert float(row[4]) == _three_digits(uptake["probability_mean_at_least_threshold"])
        assert row[5] == ("borderline" if uptake["borderline"] else "no")
        assert row[6] == ("yes" if uptake["eligible"] else "no")
        assert row[7] == "5"  # the synthetic patient's five target lesions (docs/phantom.md)
        assert float(row[8]) == _three_digits(limits["kidney_dose_gy"]["this_cycle"])
        assert float(row[9]) == _three_digits(limits["bone_marrow_dose_gy"]["this_cycle"])
    assert body["P1"][1] == "A" and body["NET/002"][1] == "–"  # test_batch's SITES: P1 at site A


def test_headline_states_the_patients_eligibility_and_the_primary_comparison_per_site(cohort_run):
    page, summary = cohort_run["page"], cohort_run["summary"]
    text = re.sub(r"<[^>]+>", "", page)
    assert "3 patients: 2 analysed, 1 failed" in text
    eligibility = summary["eligibility"]
    assert f"Eligible: {eligibility['count']} of 2" in text
    assert (f"Clopper-Pearson interval {format_number(100 * eligibility['ci_low'])} % to "
            f"{format_number(100 * eligibility['ci_high'])} %") in text
    hl = summary["primary_endpoint"]["hodges_lehmann"]
    assert "unit of analysis: patient, n = 2" in text
    assert f"Hodges-Lehmann estimate as a ratio {hl['estimate_ratio']:.3g}" in text
    # Two patients: the smallest two-sided signed-rank p is 2 / 2^2 = 0.5 (docs/physics.md section 25).
    assert "two-sided p = 0.500" in text
    sites = _table(page, "sites")
    assert [row[0] for row in sites[1:]] == ["(no site given)", "A"]


def test_forest_plot_one_interval_per_patient_and_the_threshold_at_3_on_the_log_axis(cohort_run):
    svg = _svg(cohort_run["page"], "Mean enhancement ratio per patient")
    to_pixel, to_value = _log_axis(svg, "x-tick", "x")
    intervals = {line.get("data-row"): line for line in _elements(svg, "line", "interval")}
    assert set(intervals) == {"P1", "NET/002", "Cohort: mean (Student-t)", "Cohort: Hodges-Lehmann"}
    for patient_id, results in cohort_run["results"].items():
        uptake = results["uptake"]
        line = intervals[patient_id]
        assert float(line.get("x1")) == pytest.approx(to_pixel(uptake["mean_enhancement_ratio_ci_low"]), abs=0.1)
        assert float(line.get("x2")) == pytest.approx(to_pixel(uptake["mean_enhancement_ratio_ci_high"]), abs=0.1)
    [threshold] = _elements(svg, "line", "threshold")
    assert threshold.get("x1") == threshold.get("x2")
    # The phantom manifest's threshold: 3 (the trial's eligibility ratio).
    assert float(threshold.get("x1")) == pytest.approx(to_pixel(3.0), abs=0.1)
    assert to_value(float(threshold.get("x1"))) == pytest.approx(3.0, rel=1e-3)
    [label] = _elements(svg, "text", "threshold-label")
    assert label.text == "threshold 3"


def test_dose_plot_has_every_voi_of_its_role_and_the_summarys_median(cohort_run):
    page, summary = cohort_run["page"], cohort_run["summary"]
    svg = _svg(page, "Absorbed dose per VOI")
    points = _elements(svg, "circle", "point") + _elements(svg, "rect", "point") + _elements(svg, "polygon", "point")
    by_group = {}
    for p in points:
        by_group.setdefault(p.get("data-group"), []).append(p)
    lesion_doses = [v["absorbed_dose_gy"] for r in cohort_run["results"].values() for v in r["dosimetry"]["vois"]
                    if v["role"] == "target_lesion"]
    kidney_doses = [v["absorbed_dose_gy"] for r in cohort_run["results"].values() for v in r["dosimetry"]["vois"]
                    if v["name"] in ("Left kidney", "Right kidney")]
    assert len(by_group["Target lesions"]) == len(lesion_doses) == 10  # 5 target lesions x 2 patients
    assert len(by_group["Kidneys"]) == len(kidney_doses) == 4  # left and right x 2 patients
    described = summary["absorbed_dose_gy_per_role"]
    assert described["target_lesion"]["median"] == pytest.approx(statistics.median(lesion_doses))
    assert (described["kidneys"]["n"], described["kidneys"]["n_patients"]) == (4, 2)
    rows = {row[0]: row for row in _table(page, "doses")[1:]}
    assert float(rows["Target lesions"][3]) == _three_digits(statistics.median(lesion_doses))
    assert rows["Target lesions"][1:3] == ["10", "2"]
    assert rows["Kidneys"][4] == f"{min(kidney_doses):.3g} – {max(kidney_doses):.3g}"
    to_pixel, _ = _log_axis(svg, "y-tick", "y")
    [median] = [m for m in _elements(svg, "line", "median") if m.get("data-group") == "Target lesions"]
    assert float(median.get("y1")) == pytest.approx(to_pixel(statistics.median(lesion_doses)), abs=0.1)


def test_predicted_versus_delivered_scatter_with_the_identity_line(cohort_run):
    page, results = cohort_run["page"], cohort_run["results"]["P1"]
    svg = _svg(page, "Lesion dose: delivered against predicted")
    lesions = [e for e in results["predicted_vs_delivered"]["lesions"] if e["predicted_ia_dose_gy"] is not None]
    assert len(lesions) == 3  # IV_CYCLE_DOSES gives Lesions 1 to 3
    x_pixel, x_value = _log_axis(svg, "x-tick", "x")
    y_pixel, y_value = _log_axis(svg, "y-tick", "y")
    points = _elements(svg, "circle", "point")
    assert len(points) == 3
    drawn = sorted((x_value(float(p.get("cx"))), y_value(float(p.get("cy")))) for p in points)
    expected = sorted((e["predicted_ia_dose_gy"], e["delivered_ia_dose_gy"]) for e in lesions)
    for (x, y), (predicted, delivered) in zip(drawn, expected):  # to the 0.1 px of the SVG coordinates
        assert (x, y) == (pytest.approx(predicted, rel=2e-3), pytest.approx(delivered, rel=2e-3))
    [identity] = _elements(svg, "line", "identity")
    for end in ("1", "2"):  # both ends on y = x
        assert x_value(float(identity.get("x" + end))) == pytest.approx(y_value(float(identity.get("y" + end))),
                                                                       rel=2e-3)
    agreement = cohort_run["summary"]["predicted_vs_delivered"]["bland_altman_log_dose"]
    assert agreement["n"] == 3 and agreement["n_patients"] == 1
    rows = {row[0]: row[1] for row in _table(page, "bland-altman")[1:]}
    assert float(rows["geometric mean of delivered / predicted (unitless)"]) == _three_digits(
        agreement["ratio_geometric_mean"])


def test_page_is_self_contained_well_formed_and_never_in_exponent_notation(cohort_run):
    page = cohort_run["page"]
    parser = _parse(page)
    assert parser.errors == [] and parser.stack == []
    for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ET.fromstring(svg)  # each chart is well-formed XML
    assert "e+" not in page and not re.search(r"\de-\d", page)
    assert set(re.findall(r"https?://[^\s\"'<>]*", page)) == {"http://www.w3.org/2000/svg"}
    assert not re.search(r"<script|<link|<img|src=|url\(", page)


def test_no_name_and_provenance_collapsed_with_workers_and_the_tests(cohort_run):
    page, summary = cohort_run["page"], cohort_run["summary"]
    assert "Synthetic" not in page  # the phantom manifests' patient.name "Synthetic^Patient" (de-identified or not)
    provenance = page[page.index('<details class="provenance">'):]
    assert "</details>" in provenance and "<details open" not in page
    rows = {row[0]: row[1] for row in _table(provenance, "provenance-items")[1:]}
    assert rows["parallel workers (n)"] == "2"  # --workers 2
    assert rows["cohort folder (relative to this report)"] == os.path.relpath(cohort_run["cohort"], cohort_run["out"])
    tests = [(row[0], row[1], row[3]) for row in _table(provenance, "tests")[1:]]
    assert tests == [(t["test"], t["group"], str(t["n"])) for t in summary["tests"]]


def test_follow_up_section_renders_nothing_without_follow_up(cohort_run):
    page, summary = cohort_run["page"], cohort_run["summary"]
    outcomes = [{"manifest": "P1.json", "status": "ok", "results": cohort_run["results"]["P1"], "folder": "P1"}]
    assert _follow_up_section(summary, outcomes) == ""
    assert 'id="follow-up"' not in page
    # With follow-up (issue 15's results key) the section appears and names the patient.
    with_follow_up = [dict(outcomes[0], results={**cohort_run["results"]["P1"], "followup": {"visits": []}})]
    html = _follow_up_section(summary, with_follow_up)
    assert 'id="follow-up"' in html and ">P1</a>" in html and "1 of 1" in html


def test_a_deidentified_patients_error_keeps_file_names_only():
    message = "error: /data/cohort/P7.json: uptake.ia.pet: /scans/Smith_John/ia pet/0005.dcm: PixelData: truncated"
    # Inside the cohort folder: relative to it. Elsewhere: the whole path when not de-identified (it is how to find
    # the file), its last component when the manifest asks for de-identification (a folder may carry the name).
    assert _clean_error(message, "/data/cohort", deidentify=False) == \
        "error: P7.json: uptake.ia.pet: /scans/Smith_John/ia pet/0005.dcm: PixelData: truncated"
    assert _clean_error(message, "/data/cohort", deidentify=True) == \
        "error: P7.json: uptake.ia.pet: 0005.dcm: PixelData: truncated"


# ---- the plots on known inputs ------------------------------------------------------------------------
def test_forest_interval_2_to_4_on_a_log_axis_1_to_10_lands_on_the_hand_computed_pixels():
    # Plot area x = 100 .. 600 (width 700, margins 100): x(v) = 100 + 500 log10(v).
    svg = ET.fromstring(forest_plot([ForestRow("A", 2.83, 2.0, 4.0, "eligible")], [3.0], "t", "x",
                                    x_range=(1.0, 10.0), width=700, left=100, right=100))
    [interval] = _elements(svg, "line", "interval")
    assert (interval.get("x1"), interval.get("x2")) == ("250.5", "401.0")  # 100 + 500 x 0.30103, x 0.60206
    [threshold] = _elements(svg, "line", "threshold")
    assert threshold.get("x1") == "338.6"  # 100 + 500 x log10(3) = 338.56
    [estimate] = _elements(svg, "rect", "estimate")
    assert float(estimate.get("x")) + float(estimate.get("width")) / 2 == pytest.approx(325.9, abs=0.06)  # log10 2.83
    assert [t.text for t in _elements(svg, "text", "x-tick")] == ["1", "1.5", "2", "3", "4", "5", "7", "10"]
    [reference] = _elements(svg, "line", "reference")
    assert reference.get("x1") == "100.0"  # ratio 1 at the axis' left end


def test_forest_marks_a_borderline_patient_and_leaves_out_what_it_cannot_place():
    svg = ET.fromstring(forest_plot([ForestRow("B", 3.1, 2.6, 3.7, "eligible", borderline=True),
                                     ForestRow("C", None, None, None, "undecided")], [3.0], "t", "x"))
    [estimate] = _elements(svg, "rect", "estimate")
    assert estimate.get("fill") == "white"  # open marker
    assert [t.text for t in _elements(svg, "text", "borderline")] == ["borderline"]
    assert len(_elements(svg, "line", "interval")) == 1  # C has no value: a label, no bar, nothing drawn at 0


def test_strip_plot_places_doses_on_a_log_axis_by_hand():
    # y range 0.1 .. 100 Gy over the plot area y = 30 .. 280 (height 380, top 30, bottom 100): 3 decades in 250 px.
    svg = ET.fromstring(strip_plot([StripGroup("Kidneys", [("A", 1.0, ""), ("A", 10.0, ""), ("A", 0.0, "")], 10.0)],
                                   {"A": ("#c0392b", "circle")}, "t", "y", y_range=(0.1, 100.0), width=600,
                                   height=380, left=70, right=150))
    points = _elements(svg, "circle", "point")
    assert sorted(p.get("cy") for p in points) == ["113.3", "196.7"]  # 280 - 250 x 2/3 and x 1/3
    assert {p.get("cx") for p in points} == {"260.0"}  # the group's centre: 70 + (600 - 70 - 150) / 2
    [median] = _elements(svg, "line", "median")
    assert median.get("y1") == "113.3"
    assert any("1 not shown" in (t.text or "") for t in svg.iter(SVG_NS + "text"))  # 0 Gy cannot be on a log axis


def test_scatter_identity_and_agreement_lines_by_hand():
    # Axes 1 .. 100 Gy over x = 70 .. 430 and y = 390 .. 30 (size 360, top 30, left 70).
    svg = ET.fromstring(scatter_log_log([("A", 10.0, 20.0, "")], {"A": ("#c0392b", "circle")}, "t", "x", "y",
                                        [(2.0, "bias")], axis_range=(1.0, 100.0), size=360, left=70, right=200))
    [point] = _elements(svg, "circle", "point")
    assert (point.get("cx"), point.get("cy")) == ("250.0", "155.8")  # 70 + 180; 390 - 180 x log10(20) = 155.8
    [identity] = _elements(svg, "line", "identity")
    assert [identity.get(k) for k in ("x1", "y1", "x2", "y2")] == ["70.0", "390.0", "430.0", "30.0"]
    [line] = _elements(svg, "line", "agreement")  # y = 2x from (1, 2) to (50, 100)
    assert [line.get(k) for k in ("x1", "y1", "x2", "y2")] == ["70.0", "335.8", "375.8", "30.0"]


@pytest.mark.parametrize("value, text", [
    (1234.0, "1230"), (0.000123456, "0.000123"), (9.996, "10.0"), (3.0, "3.00"), (1.0e6, "1000000"),
    (2.5e-7, "0.000000250"), (-2.345, "-2.35"), (0.0, "0"), (float("nan"), "–"), (None, "–")])
def test_numbers_have_three_significant_digits_and_no_exponent(value, text):
    assert format_number(value) == text


def test_log_ticks_are_round_and_not_too_many():
    assert log_ticks(0.1, 50.0) == [0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0]  # 1-2-5: 9 ticks
    assert log_ticks(0.001, 1.0e6) == [10.0 ** e for e in range(-3, 7)]  # one per decade
