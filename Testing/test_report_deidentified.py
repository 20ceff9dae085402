"""A de-identified report holds none of the input's identifying values (issue 16).

The synthetic patient (small, noise-free) is run with ``report.deidentify``; the test then reads every
DICOM header of the input with pydicom and scans the report's HTML for each identifying value in every
form a report could print it: names and their components, IDs, accession numbers, birth dates, every
instance UID, every date (DICOM, ISO and the two common day-month orders), the manifest's patient name
and ID and the administration date, and the absolute paths of the study and output folders."""

from __future__ import annotations

import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import phantom_checks
import pydicom
import pytest

from iahepaticprrt.study.pipeline import run_patient

#: Attributes whose value identifies the patient or the study (DICOM PS3.15 Annex E, Basic Profile).
IDENTIFYING = ("PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs", "AccessionNumber",
               "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "StudyID")


def _date_forms(value: str) -> set[str]:
    day = datetime.strptime(value[:8], "%Y%m%d")
    return {day.strftime(f) for f in ("%Y%m%d", "%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y")}


def identifying_values(folder: Path) -> dict[str, set[str]]:
    """Every identifying text of every DICOM header under ``folder``, by kind."""
    found: dict[str, set[str]] = {"name or ID": set(), "UID": set(), "date": set()}

    def visit(dataset):
        for element in dataset:
            if element.VR == "SQ":
                for item in element.value:
                    visit(item)
                continue
            if element.value in (None, ""):
                continue
            if element.keyword in IDENTIFYING:
                text = str(element.value)
                # Texts of 4 characters or more: a StudyID "1" or "31" is in every table of numbers.
                found["name or ID"] |= {t for t in (text, text.replace("^", " ")) if len(t) >= 4}
                found["name or ID"] |= {part for part in re.split(r"[\^ ]", text) if len(part) >= 4}
            if element.VR == "UI" and not str(element.value).startswith("1.2.840.10008."):  # standard class UIDs
                found["UID"].add(str(element.value))
            if element.VR in ("DA", "DT") and len(str(element.value)) >= 8:
                found["date"] |= _date_forms(str(element.value))

    for path in folder.rglob("*"):
        if path.is_file() and path.suffix.lower() not in (".json", ".nrrd", ".csv", ".txt"):
            try:
                visit(pydicom.dcmread(path, stop_before_pixels=True))
            except pydicom.errors.InvalidDicomError:
                continue
    return found


@pytest.fixture(scope="module")
def deidentified(tmp_path_factory):
    folder = tmp_path_factory.mktemp("deid") / "NET-017"
    shutil.copytree(phantom_checks.phantom(tmp_path_factory), folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["report"] = {"deidentify": True}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    output = folder.parent / "out"
    run_patient(folder / "manifest.json", output)
    return folder, output, manifest, (output / "report.html").read_text(encoding="utf-8")


def test_the_headers_do_hold_identifying_values(deidentified):
    folder, _, _, _ = deidentified
    values = identifying_values(folder)
    # Else the scan below would prove nothing: the synthetic headers carry a name, IDs, UIDs and dates.
    assert "IAHPRRT^Synthetic Patient" in values["name or ID"] and "19620415" in values["date"]
    assert len(values["UID"]) > 20 and len(values["date"]) > 10


def test_no_name_id_uid_date_or_absolute_path_in_the_deidentified_report(deidentified):
    folder, output, manifest, html = deidentified
    values = identifying_values(folder)
    values["name or ID"] |= {manifest["patient"]["id"], manifest["patient"]["name"],
                             *manifest["patient"]["name"].split("^")}
    values["date"] |= _date_forms(manifest["dosimetry"]["administration_time"][:10].replace("-", ""))
    values["path"] = {str(folder), str(folder.resolve()), str(output), str(output.resolve()), str(folder.parent)}
    # As a whole word: "Patient" (of "Synthetic Patient") inside the attribute name "PatientWeight" is no leak.
    leaks = {kind: sorted(v for v in items if v and re.search(rf"(?<!\w){re.escape(v)}(?!\w)", html))
             for kind, items in values.items()}
    assert leaks == {kind: [] for kind in values}, leaks
    assert not re.search(r"(?<![\w.])/(tmp|home|work|Users|data)/", html)  # no absolute path at all


def test_the_deidentified_report_counts_days_and_still_shows_the_results(deidentified):
    _, output, _, html = deidentified
    results = json.loads((output / "results.json").read_text())
    assert "de-identified" in html and "days counted from the intra-arterial 68Ga PET (day 0)" in html
    # The 177Lu administration 21 days after the IA PET in the synthetic patient's schedule (docs/phantom.md).
    assert "day +21, 10:30" in html
    ratio = results["uptake"]["mean_enhancement_ratio"]
    assert f"mean enhancement ratio {ratio:.3g}" in html
    assert "<img " in html  # the images stay: pixels identify no one
