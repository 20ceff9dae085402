"""The command line: help from the console script and from ``python -m``, exit codes, outputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from iahepaticprrt import known_answers
from iahepaticprrt.cli import COMMANDS, main
from iahepaticprrt.io.volume_files import read_volume
from cli_checks import error_lines

LAUNCHERS = {
    # The console script pip installed beside this interpreter (a venv's bin is not always on PATH).
    "console script": [str(Path(sys.executable).parent / "iahprrt")],
    "python -m": [sys.executable, "-m", "iahepaticprrt"],
}


@pytest.mark.parametrize("launcher", LAUNCHERS)
@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_of_every_subcommand(launcher, command):
    args = LAUNCHERS[launcher] + ([command] if command else []) + ["--help"]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: iahprrt")
    if command is None:
        assert all(name in result.stdout for name in COMMANDS)


def test_convert_keeps_geometry_and_values(tmp_path, capsys):
    grid, values = known_answers.write_oblique_ct(tmp_path / "ct")
    assert main(["convert", str(tmp_path / "ct"), "-o", str(tmp_path / "ct.nrrd")]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["unit"] == "HU" and summary["modality"] == "CT"
    volume = read_volume(tmp_path / "ct.nrrd")
    assert volume.grid.is_same(grid, 1e-5)
    np.testing.assert_array_equal(volume.array, values)


def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["convert", str(tmp_path / "missing"), "-o", str(tmp_path / "x.nrrd")]) == 2
    err = capsys.readouterr().err.strip()
    lines = error_lines(err)
    assert len(lines) == 1 and "missing" in lines[0] and lines[0].startswith("iahprrt convert: error:")
    assert not (tmp_path / "x.nrrd").exists()
