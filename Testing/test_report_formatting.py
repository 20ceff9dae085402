"""How the reports write numbers, activities, names, dates and paths (report/formatting.py).

Expected texts are written out by hand from the rules in the module's docstring: three significant
digits without exponent, MBq below 1 GBq, DICOM PN as "Family, Given Middle", days from day 0 when
de-identified."""

import datetime as dt

import pytest

from iahepaticprrt.report.formatting import (
    Presentation,
    activity,
    merged_warnings,
    person_name,
    radionuclide,
    significant,
)


@pytest.mark.parametrize("value, text", [
    (3.187441806241788, "3.19"),      # the demo's mean ratio, as the issue saw it unrounded
    (15797.4, "15800"),               # a TIA in MBq h: no "1.58e+04"
    (0.0043449876, "0.00434"),        # 177Lu decay constant per h
    (2.0, "2.00"), (9.996, "10.0"), (99.96, "100"), (0.9996, "1.00"),
    (0.0, "0"), (-0.0001234, "-0.000123"), (123456789.0, "123000000"), (26.79316, "26.8"),
])
def test_three_significant_digits_never_an_exponent(value, text):
    assert significant(value) == text
    assert "e" not in significant(value)


def test_missing_values_are_a_dash_never_zero():
    for value in (None, float("nan"), float("inf")):
        assert significant(value) == "&ndash;"
    assert significant(True) == "yes" and significant(2.5, 3, "Gy") == "2.50 Gy"


def test_activities_in_mbq_below_one_gbq_and_gbq_above():
    assert activity(7400.0) == "7.40 GBq"
    assert activity(96.0) == "96.0 MBq"
    assert activity(152.6) == "153 MBq"
    assert activity(1000.0) == "1.00 GBq"  # the boundary: 1000 MBq is 1 GBq
    assert activity(999.9) == "1.00 GBq" and activity(999.4) == "999 MBq"  # the unit follows the rounding
    assert activity(None) == "&ndash;"


def test_dicom_person_names_and_radionuclide_codes_read_as_a_physician_writes_them():
    assert person_name("Synthetic^Patient") == "Synthetic, Patient"
    assert person_name("Doe^Jane^Mary^Dr^") == "Doe, Jane Mary"
    assert person_name("Yamada^Tarou=山田^太郎") == "Yamada, Tarou"  # first component group only (PS3.5 6.2)
    assert person_name("ANONYMOUS") == "ANONYMOUS"
    assert radionuclide("^68^Gallium") == "Ga-68"
    assert radionuclide("Lutetium^177^") == "Lu-177"


def test_dates_as_dates_or_as_days_from_day_zero():
    named = Presentation(False, dt.datetime(2025, 3, 3, 11, 2))
    assert named.when("2025-03-24T10:30:00") == "2025-03-24 10:30"
    assert named.when("20250324") == "2025-03-24 00:00"
    hidden = Presentation(True, dt.datetime(2025, 3, 3, 11, 2))
    assert hidden.when("2025-03-24T10:30:00") == "day +21, 10:30"
    assert hidden.when("2025-03-01T08:00:00") == "day -2, 08:00"
    assert hidden.when("2025-03-03", with_time=False) == "day +0"


def test_paths_relative_to_the_study_folder_and_none_absolute_when_deidentified(tmp_path):
    study = tmp_path / "NET-017"
    named = Presentation(False, None, str(study))
    assert named.path(str(study / "spect" / "tp1.dcm")) == "spect/tp1.dcm"
    assert named.path("/elsewhere/ct") == "/elsewhere/ct"
    hidden = Presentation(True, dt.datetime(2025, 3, 3), str(study))
    assert hidden.path("/elsewhere/NET-017/ct") == "ct"
    text = hidden.text(f"{study}/spect/tp2.dcm: SeriesInstanceUID 1.2.840.113619.2.55.3 acquired 20250304 and "
                       "2025-03-05T09:00:00, see /mnt/pacs/Doe/x.dcm: ok")
    assert text == ("spect/tp2.dcm: SeriesInstanceUID [UID] acquired day +1 and day +2, 09:00, see x.dcm: ok")


def test_the_same_warning_is_shown_once_with_its_count():
    merged = merged_warnings(["Lesion 1: clamped", "fov 82 %", "Lesion 1:  clamped", "fov 81 %"])
    assert merged == [("Lesion 1: clamped", 2), ("fov 82 %", 1), ("fov 81 %", 1)]
