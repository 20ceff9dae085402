"""Recovery-coefficient correction by VOI volume, and the options that go with it on the command line."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.dosimetry.recovery import read_recovery_table
from iahepaticprrt.errors import InputError
from iahepaticprrt.imaging.volume import Volume
from iahepaticprrt.io.segmentation_files import write_seg_nrrd
from iahepaticprrt.io.volume_files import write_volume

import spect_builders as sb


def test_lookup_is_linear_in_log_volume(tmp_path):
    path = tmp_path / "rc.csv"
    path.write_text("volume_ml,rc,rc_uncertainty\n1,0.4,0.04\n100,0.8,0.04\n")
    table = read_recovery_table(path)
    rc, relative, warning = table.lookup(10.0)  # halfway in log volume
    assert rc == pytest.approx(0.6) and relative == pytest.approx(0.04 / 0.6) and warning is None
    rc, _, warning = table.lookup(500.0)
    assert rc == pytest.approx(0.8) and "outside the recovery table" in warning


def test_bad_tables(tmp_path):
    path = tmp_path / "rc.csv"
    path.write_text("volume,rc\n1,0.5\n")
    with pytest.raises(InputError, match="volume_ml"):
        read_recovery_table(path)
    path.write_text("volume_ml,rc\n1,0\n")
    with pytest.raises(InputError, match="RC in"):
        read_recovery_table(path)


def test_recovery_previous_cycles_and_point_uncertainty_on_the_command_line(tmp_path, capsys):
    patient = sb.default_patient()
    times = patient.times_h
    paths = []
    for t in times:
        path = tmp_path / f"tp{t:g}.nrrd"
        write_volume(Volume(patient.concentration_bqml(t).astype(np.float32), patient.grid), path)
        paths.append(str(path))
    write_seg_nrrd(patient.segmentation(), tmp_path / "vois.seg.nrrd")
    (tmp_path / "rc.csv").write_text("volume_ml,rc,rc_uncertainty\n1,0.5,0.05\n1000,0.5,0.05\n")
    (tmp_path / "cycles.json").write_text(json.dumps([{"cycle": 1, "kidney_dose_gy": 4.0, "kidney_bed_gy": 4.4,
                                                       "bone_marrow_dose_gy": 0.2}]))
    assert main(["dosimetry", "--spect", *paths, "--times-h", *map(str, times), "--seg", str(tmp_path / "vois.seg.nrrd"),
                 "-o", str(tmp_path / "out"), "--administered-mbq", "7400", "--recovery", str(tmp_path / "rc.csv"),
                 "--previous-cycles", str(tmp_path / "cycles.json"), "--activity-uncertainty-percent", "5",
                 "--model", "mono-exp", "--no-registration"]) == 0
    capsys.readouterr()
    report = json.loads((tmp_path / "out" / "dosimetry.json").read_text())
    lesion = next(v for v in report["vois"] if v["name"] == "Lesion 1")
    assert lesion["recovery_coefficient"] == pytest.approx(0.5)
    for point, t in zip(lesion["tac"], times):
        assert point["activity_mbq"] == pytest.approx(patient.regions[0].activity_mbq(t) / 0.5, rel=1e-3)
    parts = lesion["tia_uncertainty_components"]
    assert parts["recovery_mbqh"] == pytest.approx(0.1 * lesion["tia_mbqh"])  # 0.05 / 0.5
    assert parts["fit_mbqh"] > 0  # from the stated 5 % per point
    assert lesion["tia_uncertainty_mbqh"] == pytest.approx(math.hypot(parts["fit_mbqh"], parts["recovery_mbqh"]))
    # The recovery correction is carried into the dose map: the lesion's absorbed dose (from the map) is
    # the corrected local-deposition dose, and twice (1 / RC 0.5) the uncorrected one.
    assert lesion["absorbed_dose_gy"] == pytest.approx(lesion["ldm_voi_dose_gy"], rel=0.01)
    assert lesion["tia_uncorrected_mbqh"] == pytest.approx(0.5 * lesion["tia_mbqh"], rel=1e-6)
    assert lesion["ldm_voi_dose_uncorrected_gy"] == pytest.approx(0.5 * lesion["ldm_voi_dose_gy"], rel=1e-6)
    assert "recovery coefficient 0.5" in lesion["absorbed_dose_method"]
    kidney = report["limits"]["limits"]["kidney_dose_gy"]
    this_cycle = next(v for v in report["vois"] if v["name"] == "Left kidney")["absorbed_dose_gy"]
    assert kidney["this_cycle"] == pytest.approx(this_cycle) and kidney["cumulative"] == pytest.approx(this_cycle + 4.0)
    assert report["limits"]["limits"]["kidney_bed_gy"]["previous_cycles"] == pytest.approx(4.4)
    assert report["limits"]["dose_quantity"].startswith("absorbed_dose_gy")
