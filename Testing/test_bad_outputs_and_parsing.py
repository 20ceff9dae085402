"""Bad outputs and unparseable inputs (issue 13): every case is one clear line on stderr naming the file
and the field, a non-zero exit (0 for a closed pipe), no traceback, inputs unchanged, no partial
output, and the previous output intact.

Disk-full and read-only cases run on a real small tmpfs when the test may mount one (root on Linux),
and always through a failure injected at the lowest writing layer (``os.replace`` in
``io/output_files.py``, where every output file is put into place)."""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import phantom_checks
from cli_checks import error_lines
import pytest

from iahepaticprrt.cli import main
from iahepaticprrt.imaging.grid import Grid
from iahepaticprrt.imaging.segmentation import Segmentation
from iahepaticprrt.io.segmentation_files import read_segmentation, write_seg_nrrd

MARKER = ".iahepaticprrt-output"  # the project's output-folder marker (io/output_files.py)


@pytest.fixture(scope="module")
def patient(tmp_path_factory):
    return phantom_checks.phantom(tmp_path_factory)  # small, noise-free, siemens


@pytest.fixture(scope="module")
def uptake_manifest(patient, tmp_path_factory):
    """The patient's manifest without dosimetry (a run of a few seconds), paths made absolute."""
    manifest = json.loads((patient / "manifest.json").read_text())
    manifest.pop("dosimetry")
    for route in ("ia", "iv"):
        for key in ("pet", "segmentation"):
            manifest["uptake"][route][key] = str(patient / manifest["uptake"][route][key])
    path = tmp_path_factory.mktemp("manifests") / "uptake_only.json"
    path.write_text(json.dumps(manifest))
    return path


def _hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(folder).rglob("*")) if p.is_file()}


def _one_clear_line(err: str) -> str:
    """The one error line on stderr (progress lines, ``[  1.2 s] stage``, may come before it)."""
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def _previous_output(folder: Path) -> dict[str, str]:
    """A previous output folder of the project (marked), small enough for a tiny disk."""
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("written by IAHepaticPRRT\n")
    (folder / "results.json").write_text('{"patient_id": "previous run"}\n')
    (folder / "dosimetry").mkdir()
    (folder / "dosimetry" / "dosimetry.json").write_text("{}\n")
    return _hashes(folder)


# ---- output folders: foreign files, stale results, files as folders ----------------------------
def test_a_folder_holding_files_the_project_did_not_write_is_refused(patient, tmp_path, capsys):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "report.html").write_text("someone else's report")
    inputs = _hashes(patient)
    assert main(["run", str(patient / "manifest.json"), "-o", str(out)]) == 2  # refused before any work
    line = _one_clear_line(capsys.readouterr().err)
    assert str(out) in line and "did not write (report.html)" in line
    assert (out / "report.html").read_text() == "someone else's report" and len(list(out.iterdir())) == 1
    assert _hashes(patient) == inputs


def test_a_rerun_replaces_the_previous_output_whole(uptake_manifest, tmp_path, capsys):
    """A stale dosimetry/ of an earlier run must not survive beside a results.json without dosimetry."""
    out = tmp_path / "out"
    _previous_output(out)
    (out / "dosimetry" / "stale.txt").write_text("from an earlier run")
    assert main(["run", str(uptake_manifest), "-o", str(out)]) == 0
    assert not (out / "dosimetry").exists()
    assert json.loads((out / "results.json").read_text())["dosimetry"] is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing moved aside is left


def test_a_file_added_to_a_previous_output_is_never_deleted_by_a_rerun(uptake_manifest, tmp_path, capsys):
    """The marker lists the files the run wrote: a user's file added afterwards, at the top or in a
    sub-folder, makes the folder not the project's (refused, exit 2, everything left as it was)."""
    out = tmp_path / "out"
    assert main(["run", str(uptake_manifest), "-o", str(out)]) == 0
    capsys.readouterr()
    (out / "notes.txt").write_text("the physicist's notes")
    (out / "uptake" / "edited.csv").write_text("a colleague's table")
    before = _hashes(out)
    assert main(["run", str(uptake_manifest), "-o", str(out)]) == 2
    line = _one_clear_line(capsys.readouterr().err)
    assert str(out) in line and "did not write (notes.txt, uptake/edited.csv)" in line
    assert _hashes(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    (out / "notes.txt").unlink()
    (out / "uptake" / "edited.csv").unlink()
    assert main(["run", str(uptake_manifest), "-o", str(out)]) == 0  # the project's own files only: replaced


@pytest.mark.parametrize("command", ["run", "uptake", "dosimetry", "kinetics", "phantom"])
def test_an_output_folder_that_is_a_file_or_under_a_file_is_refused(patient, tmp_path, capsys, command):
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    arguments = {
        "run": ["run", str(patient / "manifest.json"), "-o"],
        "uptake": ["uptake", "--ia", str(patient / "ia_day0" / "pet"), "--iv", str(patient / "iv_day3" / "pet"),
                   "--ia-seg", str(patient / "segmentations" / "ia_day0.seg.nrrd"),
                   "--iv-seg", str(patient / "segmentations" / "iv_day3.seg.nrrd"), "-o"],
        "dosimetry": ["dosimetry", "--spect", str(patient / "spect" / "tp1" / "nm" / "spect.dcm"), "--seg",
                      str(patient / "segmentations" / "spect_tp1.seg.nrrd"), "--administered-mbq", "7400",
                      "--times-h", "24", "-o"],
        "kinetics": ["kinetics", str(a_file), "--administered-mbq", "7400", "-o"],
        "phantom": ["phantom", "--small"],
    }[command]
    for target in (a_file, a_file / "inside"):
        argv = arguments + [str(target)] if command != "phantom" else ["phantom", str(target), "--small"]
        assert main(argv) == 2
        line = _one_clear_line(capsys.readouterr().err)
        assert str(target) in line and ("is a file" in line or "is a file, not a folder" in line), line
    assert a_file.read_text() == "x"


@pytest.mark.parametrize("command, output, message", [
    ("convert", "out", "must end with"),          # no suffix
    ("convert", "out.png", "must end with"),      # a suffix no volume writer takes
    ("convert", "FOLDER", "is a folder"),         # an existing folder
    ("convert", "FILE/out.nrrd", "is a file"),    # the parent is a file
    ("suv", "out.txt", "must end with"),
    ("register", "t.png", "must end with"),
    ("propagate", "out.nrrd", "must end with"),
])
def test_output_file_paths_are_checked_before_any_work(patient, tmp_path, capsys, command, output, message):
    (tmp_path / "FOLDER").mkdir()
    (tmp_path / "FILE").write_text("x")
    target = str(tmp_path / output)
    argv = {
        "convert": ["convert", str(patient / "ia_day0" / "ct"), "-o", target],
        "suv": ["suv", str(patient / "ia_day0" / "pet"), "-o", target],
        "register": ["register", str(patient / "ia_day0" / "ct"), str(patient / "iv_day3" / "ct"), "-o", target],
        "propagate": ["propagate", str(patient / "segmentations" / "ia_day0.seg.nrrd"), str(tmp_path / "t.tfm"),
                      "--reference", str(patient / "iv_day3" / "ct"), "-o", target],
    }[command]
    assert main(argv) == 2
    line = _one_clear_line(capsys.readouterr().err)
    assert message in line and output.split("/")[0] in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["FILE", "FOLDER"]


# ---- a full or read-only disk -------------------------------------------------------------------
def _fail_on_nth_replace(monkeypatch, n: int, code: int):
    """Make the n-th file put into place fail as a full or read-only disk would."""
    import iahepaticprrt.io.output_files as output_files

    real = output_files.os.replace
    calls = {"n": 0}

    def replace(src, dst):
        if Path(src).is_file():
            calls["n"] += 1
            if calls["n"] == n:
                raise OSError(code, os.strerror(code))
        return real(src, dst)

    monkeypatch.setattr(output_files.os, "replace", replace)
    return calls


@pytest.mark.parametrize("n", [1, 4])  # the first and the last of uptake.json, uptake.csv, report.html, results.json
@pytest.mark.parametrize("code, reason", [(errno.ENOSPC, "the disk is full"), (errno.EROFS, "the disk is read-only")])
def test_a_write_failure_at_any_file_leaves_the_previous_output_intact(uptake_manifest, patient, tmp_path, capsys,
                                                                        monkeypatch, n, code, reason):
    out = tmp_path / "out"
    before = _previous_output(out)
    inputs = _hashes(patient)
    _fail_on_nth_replace(monkeypatch, n, code)
    assert main(["run", str(uptake_manifest), "-o", str(out)]) == 2
    line = _one_clear_line(capsys.readouterr().err)
    assert reason in line and "nothing was written" in line
    assert _hashes(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or moved-aside folder left
    assert _hashes(patient) == inputs


def test_several_output_files_appear_together_or_not_at_all(patient, tmp_path, capsys, monkeypatch):
    """register -o T.tfm --summary S.json: the second file fails, so the first must not appear either."""
    _fail_on_nth_replace(monkeypatch, 2, errno.ENOSPC)
    argv = ["register", str(patient / "ia_day0" / "ct"), str(patient / "iv_day3" / "ct"), "-o",
            str(tmp_path / "t.tfm"), "--summary", str(tmp_path / "s.json")]
    assert main(argv) == 2
    assert "the disk is full" in _one_clear_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def small_disk(tmp_path):
    """A real 256 kB tmpfs (needs root and mount); skipped where it cannot be mounted."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root on Linux")
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mount_point)],
                      capture_output=True).returncode != 0:
        pytest.skip("tmpfs cannot be mounted here")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_a_really_full_disk(patient, small_disk, capsys):
    out = small_disk / "out"
    before = _previous_output(out)
    assert main(["run", str(patient / "manifest.json"), "-o", str(out)]) == 2
    line = _one_clear_line(capsys.readouterr().err)
    assert "the disk is full" in line and "nothing was written" in line
    assert _hashes(out) == before
    assert sorted(p.name for p in small_disk.iterdir()) == ["out"]


def test_a_really_read_only_disk(uptake_manifest, small_disk, capsys):
    out = small_disk / "out"
    before = _previous_output(out)
    assert subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], capture_output=True).returncode == 0
    assert main(["run", str(uptake_manifest), "-o", str(out)]) == 2
    line = _one_clear_line(capsys.readouterr().err)
    assert "read-only" in line
    assert _hashes(out) == before


# ---- permissions --------------------------------------------------------------------------------
def test_outputs_get_the_users_umask(patient, tmp_path):
    """Files 0644 and folders 0755 under umask 022 (temporary files are created 0600)."""
    out = tmp_path / "out"
    code = ("import os, sys; os.umask(0o022); from iahepaticprrt.cli import main; "
            f"sys.exit(main(['run', {str(patient / 'manifest.json')!r}, '-o', {str(out)!r}]))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0
    modes = {p.relative_to(out).as_posix(): stat.S_IMODE(p.stat().st_mode) for p in out.rglob("*")}
    assert modes["results.json"] == 0o644 and modes["dosimetry/dose.nrrd"] == 0o644
    assert modes["dosimetry"] == 0o755
    assert {m for p, m in modes.items() if (out / p).is_file()} == {0o644}
    assert stat.S_IMODE(out.stat().st_mode) == 0o755


# ---- unparseable inputs -------------------------------------------------------------------------
def _seg_nrrd(path: Path, header_lines: list[str], data: bytes = b"") -> Path:
    path.write_bytes(("NRRD0004\n" + "\n".join(header_lines) + "\n\n").encode("latin-1") + data)
    return path


GOOD_HEADER = ["type: unsigned char", "dimension: 3", "space: left-posterior-superior", "sizes: 4 5 6",
               "space directions: (2,0,0) (0,2,0) (0,0,3)", "encoding: gzip", "space origin: (0,0,0)",
               "Segment0_Name:=Liver", "Segment0_LabelValue:=1", "Segment0_Layer:=0"]


@pytest.mark.parametrize("change, field", [
    (("sizes: 4 5 6", "sizes: 4 five 6"), "sizes"),
    (("sizes: 4 5 6", "sizes: 4 5"), "sizes"),
    (("sizes: 4 5 6", "sizes: 4 -5 6"), "sizes"),
    (("space directions: (2,0,0) (0,2,0) (0,0,3)", "space directions: (2,0,0) (0,2) (0,0,3)"), "space directions"),
    (("space directions: (2,0,0) (0,2,0) (0,0,3)", "space directions: (2,0,0) (0,x,0) (0,0,3)"), "space directions"),
    (("space origin: (0,0,0)", "space origin: (nan,0,0)"), "space origin"),
    (("encoding: gzip", "encoding: bzip2"), "encoding"),
    (("Segment0_LabelValue:=1", "Segment0_LabelValue:=one"), "Segment0_LabelValue"),
    (("dimension: 3", "dimension: three"), "sizes"),
])
def test_malformed_seg_nrrd_headers_are_named(tmp_path, capsys, change, field):
    header = [change[1] if line == change[0] else line for line in GOOD_HEADER]
    path = _seg_nrrd(tmp_path / "bad.seg.nrrd", header, gzip.compress(bytes(120)))
    assert main(["propagate", str(path), str(tmp_path / "t.tfm"), "--reference", str(tmp_path),
                 "-o", str(tmp_path / "o.seg.nrrd")]) == 2
    line = _one_clear_line(capsys.readouterr().err)
    assert str(path) in line and field in line, line


def test_an_absurd_declared_grid_is_refused_before_any_allocation(tmp_path):
    """0.5 MB of gzip cannot hold 800^3 voxels of more than 1100:1 deflate: refused at once."""
    header = [line.replace("sizes: 4 5 6", "sizes: 800 800 800").replace("(2,0,0) (0,2,0) (0,0,3)",
                                                                        "(0.5,0,0) (0,0.5,0) (0,0,0.5)")
              for line in GOOD_HEADER]
    path = _seg_nrrd(tmp_path / "bomb.seg.nrrd", header, gzip.compress(bytes(400_000)))
    from iahepaticprrt.errors import InputError

    with pytest.raises(InputError, match="more than") as info:
        read_segmentation(path)
    assert info.value.field == "sizes"
    # A grid larger than a patient is refused on its header alone.
    header = [line.replace("(2,0,0) (0,2,0) (0,0,3)", "(2000,0,0) (0,2,0) (0,0,3)") for line in GOOD_HEADER]
    with pytest.raises(InputError, match="not a patient"):
        read_segmentation(_seg_nrrd(tmp_path / "huge.seg.nrrd", header, gzip.compress(bytes(120))))


@pytest.mark.parametrize("what", ["labels", "tac", "mapping", "manifest", "previous_cycles", "recovery"])
def test_text_inputs_that_are_not_utf8_are_named(patient, tmp_path, capsys, what):
    bad = tmp_path / f"bad.{'json' if what in ('mapping', 'manifest') else 'csv'}"
    bad.write_bytes("voi,time_h,activity_mbq\nLe\xf3n,1,2\n".encode("latin-1"))
    segmentation = str(patient / "segmentations" / "ia_day0.seg.nrrd")
    argv = {
        "labels": ["propagate", segmentation, str(tmp_path / "t.tfm"), "--labels", str(bad), "--reference",
                   str(tmp_path), "-o", str(tmp_path / "o.seg.nrrd")],
        "tac": ["kinetics", str(bad), "--administered-mbq", "7400", "-o", str(tmp_path / "k")],
        "mapping": ["uptake", "--ia", str(patient / "ia_day0" / "pet"), "--iv", str(patient / "iv_day3" / "pet"),
                    "--ia-seg", segmentation, "--iv-seg", str(patient / "segmentations" / "iv_day3.seg.nrrd"),
                    "--mapping", str(bad), "-o", str(tmp_path / "u")],
        "manifest": ["run", str(bad), "-o", str(tmp_path / "r")],
        "previous_cycles": ["dosimetry", "--spect", str(patient / "spect" / "tp1" / "nm" / "spect.dcm"), "--seg",
                            str(patient / "segmentations" / "spect_tp1.seg.nrrd"), "--administered-mbq", "7400",
                            "--times-h", "24", "--previous-cycles", str(bad), "-o", str(tmp_path / "d")],
        "recovery": ["dosimetry", "--spect", str(patient / "spect" / "tp1" / "nm" / "spect.dcm"), "--seg",
                     str(patient / "segmentations" / "spect_tp1.seg.nrrd"), "--administered-mbq", "7400",
                     "--times-h", "24", "--recovery", str(bad), "-o", str(tmp_path / "d")],
    }[what]
    assert main(argv) == 2
    line = _one_clear_line(capsys.readouterr().err)
    assert str(bad) in line and "not UTF-8" in line and "line 2" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == [bad.name]


def test_a_manifest_nested_100000_levels_deep(tmp_path, capsys):
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    assert main(["run", str(path), "-o", str(tmp_path / "out")]) == 2
    line = _one_clear_line(capsys.readouterr().err)
    assert str(path) in line and "nested more than" in line


def test_a_negative_seed(tmp_path, capsys):
    assert main(["phantom", str(tmp_path / "p"), "--seed", "-1", "--small"]) == 2
    assert "--seed" in _one_clear_line(capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_a_closed_pipe_is_not_an_error(patient):
    """``iahprrt series DIR | head -c 1``: exit 0, nothing on stderr."""
    command = f"{sys.executable} -m iahepaticprrt series {patient} | head -c 1"
    result = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_an_unexpected_error_is_one_line_and_the_traceback_only_with_debug(tmp_path, monkeypatch, capsys):
    import iahepaticprrt.commands.series as series

    def boom(args):
        raise ZeroDivisionError("an unforeseen case")

    monkeypatch.setattr(series, "run", boom)
    assert main(["series", str(tmp_path)]) == 1
    line = _one_clear_line(capsys.readouterr().err)
    assert "internal error: ZeroDivisionError: an unforeseen case" in line and "--debug" in line
    with pytest.raises(ZeroDivisionError):
        main(["--debug", "series", str(tmp_path)])


# ---- segmentations written as they are ----------------------------------------------------------
def test_an_empty_segment_is_written_empty_not_as_a_copy_of_the_next(tmp_path):
    grid = Grid((6, 5, 4), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0))
    seg = Segmentation(grid)
    first = np.zeros(grid.shape_kji, bool)
    first[1, 1, 1] = True
    last = np.zeros(grid.shape_kji, bool)
    last[2:4, 2:4, 2:4] = True
    seg.add("Lesion 1", first)
    seg.add("Extrahepatic lesion 1", np.zeros(grid.shape_kji, bool))  # empty after propagation
    seg.add("Healthy liver", last)
    back = read_segmentation(write_seg_nrrd(seg, tmp_path / "s.seg.nrrd"))
    assert {s.name: int(s.mask.sum()) for s in back.segments} == {"Lesion 1": 1, "Extrahepatic lesion 1": 0,
                                                                   "Healthy liver": 8}


# ---- a cohort whose patient IDs differ only by characters a folder name cannot hold -------------
def test_patient_ids_that_sanitise_alike_get_their_own_folders_and_duplicates_are_refused(uptake_manifest, tmp_path):
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    manifest = json.loads(uptake_manifest.read_text())
    for name, patient_id in (("a", "NET/017"), ("b", "NET:017"), ("c", "NET:017")):
        (cohort / f"{name}.json").write_text(json.dumps({**manifest, "patient": {"id": patient_id}}))
    out = tmp_path / "out"
    assert main(["batch", str(cohort), "-o", str(out), "--workers", "1"]) == 4
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == ["NET%2F017", "NET%3A017"]
    assert json.loads((out / "NET%2F017" / "results.json").read_text())["patient_id"] == "NET/017"
    rows = (out / "cohort.csv").read_text().splitlines()
    errors = [row for row in rows[1:] if ",error," in row]
    assert len(errors) == 1 and "c.json" in errors[0] and "also that of" in errors[0]
