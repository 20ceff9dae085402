"""``iahprrt kinetics TAC.csv -o OUT_DIR --administered-mbq A``: outputs and refusals."""

from __future__ import annotations

import json
import math

import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.dosimetry.lu177 import LDM_GY_G_PER_MBQH

LAMBDA = math.log(2.0) / 50.0


def _write_tac(path, rows):
    path.write_text("\n".join(rows) + "\n")
    return path


def test_kinetics_json(tmp_path, capsys):
    times = [4.0, 24.0, 96.0, 168.0]
    rows = ["voi,time_h,activity_mbq,mass_g"]
    rows += [f"Lesion 1,{t},{200.0 * math.exp(-LAMBDA * t)!r},25.0" for t in times]
    rows += [f"Spleen,{t},{80.0 * math.exp(-LAMBDA * 2 * t)!r}," for t in times]
    tac = _write_tac(tmp_path / "tac.csv", rows)
    assert main(["kinetics", str(tac), "-o", str(tmp_path / "out"), "--administered-mbq", "7400",
                 "--model", "mono-exp", "--calibration-uncertainty-percent", "3"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["output"].endswith("kinetics.json")
    report = json.loads((tmp_path / "out" / "kinetics.json").read_text())
    lesion, spleen = report["vois"]
    for voi in report["vois"]:
        assert {"name", "model", "parameters", "tia_mbqh", "tia_uncertainty_mbqh", "residence_time_h",
                "absorbed_dose_gy"} <= set(voi)
    assert lesion["tia_mbqh"] == pytest.approx(200.0 / LAMBDA, rel=1e-6)
    assert lesion["residence_time_h"] == pytest.approx(200.0 / LAMBDA / 7400.0, rel=1e-6)
    assert lesion["absorbed_dose_gy"] == pytest.approx(LDM_GY_G_PER_MBQH * 200.0 / LAMBDA / 25.0, rel=1e-6)
    assert lesion["tia_uncertainty_mbqh"] == pytest.approx(0.03 * lesion["tia_mbqh"], rel=1e-3)  # exact fit: calibration only
    assert "local deposition" in lesion["absorbed_dose_method"] and "mono-exp" in lesion["absorbed_dose_method"]
    assert spleen["absorbed_dose_gy"] is None  # no mass given
    assert spleen["parameters"]["lambda_per_h"] == pytest.approx(2 * LAMBDA, rel=1e-6)


def test_kinetics_refusals(tmp_path, capsys):
    missing = _write_tac(tmp_path / "a.csv", ["voi,time_h", "L,4"])
    assert main(["kinetics", str(missing), "-o", str(tmp_path / "o"), "--administered-mbq", "7400"]) == 2
    assert "activity_mbq" in capsys.readouterr().err
    disorder = _write_tac(tmp_path / "b.csv", ["voi,time_h,activity_mbq", "L,24,5", "L,4,6", "L,96,2"])
    assert main(["kinetics", str(disorder), "-o", str(tmp_path / "o"), "--administered-mbq", "7400"]) == 2
    assert "strictly increasing" in capsys.readouterr().err
    few = _write_tac(tmp_path / "c.csv", ["voi,time_h,activity_mbq", "L,4,5", "L,24,4"])
    assert main(["kinetics", str(few), "-o", str(tmp_path / "o"), "--administered-mbq", "7400",
                 "--model", "tri-exp"]) == 2
    assert "needs at least 5" in capsys.readouterr().err
    text = _write_tac(tmp_path / "d.csv", ["voi,time_h,activity_mbq", "L,4,abc"])
    assert main(["kinetics", str(text), "-o", str(tmp_path / "o"), "--administered-mbq", "7400"]) == 2
    assert "not a number" in capsys.readouterr().err
    assert not (tmp_path / "o" / "kinetics.json").exists()


def test_zero_activity_voi_is_a_warning(tmp_path, capsys):
    tac = _write_tac(tmp_path / "z.csv", ["voi,time_h,activity_mbq", "L,4,5", "L,24,4", "L,96,2",
                                          "Z,4,0", "Z,24,0", "Z,96,0"])
    assert main(["kinetics", str(tac), "-o", str(tmp_path / "o"), "--administered-mbq", "7400"]) == 0
    report = json.loads((tmp_path / "o" / "kinetics.json").read_text())
    zero = report["vois"][1]
    assert zero["tia_mbqh"] is None and any("zero activity" in w for w in zero["warnings"])
