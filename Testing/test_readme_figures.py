"""Every figure the README quotes about the demo comes from a run of the demo (issue 16): the test runs
the README's demo command (Testing/conftest.py ``demo_output``) and reads the figures out of the
README's marked block, so that changing either the code or the README without the other fails."""

from __future__ import annotations

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _block() -> str:
    text = README.read_text(encoding="utf-8")
    start = text.index("<!-- demo figures")
    return " ".join(text[start:text.index("<!-- /demo figures -->")].split())


def _results(demo_output) -> tuple[dict, dict]:
    results = json.loads((demo_output / "results" / "results.json").read_text())
    truth = json.loads((demo_output / "patient" / "truth.json").read_text())
    return results, truth


def test_the_quoted_enhancement_ratios_are_the_demos(demo_output):
    results, truth = _results(demo_output)
    uptake = results["uptake"]
    block = _block()
    ratio, low, high = re.search(r"mean enhancement ratio of \*\*([\d.]+)\*\* \(95 % interval ([\d.]+) to ([\d.]+)\)",
                                 block).groups()
    assert (ratio, low, high) == (f"{uptake['mean_enhancement_ratio']:.3g}",
                                  f"{uptake['mean_enhancement_ratio_ci_low']:.3g}",
                                  f"{uptake['mean_enhancement_ratio_ci_high']:.3g}")
    assert "eligible but borderline" in block and uptake["eligible"] and uptake["borderline"]
    below = sorted(v["name"] for v in uptake["vois"] if v["role"] == "target_lesion" and v["enhancement_ratio"] < 3)
    count, first, second = re.search(r"(\w+) lesions below 3 \(Lesions (\d) and (\d)\)", block).groups()
    assert count == "two" and below == [f"Lesion {first}", f"Lesion {second}"]
    truth_below = [name for name, r in truth["enhancement_ratio"].items() if r < 3]
    intro = " ".join(README.read_text(encoding="utf-8").split())
    assert f"true mean enhancement ratio of {truth['mean_enhancement_ratio']:g} (one lesion below 3)" in intro
    assert truth_below == [f"Lesion {first}"]  # "the truth's one"


def test_the_quoted_doses_are_the_demos(demo_output):
    results, _ = _results(demo_output)
    doses = {v["name"]: v["absorbed_dose_gy"] for v in results["dosimetry"]["vois"]}
    block = _block()
    lesion = re.search(r"Lesion 1 receives ([\d.]+) Gy", block).group(1)
    assert lesion == f"{doses['Lesion 1']:.3g}"  # deterministic: registration runs single-threaded
    left, right = re.search(r"left and right kidneys ([\d.]+) and ([\d.]+) Gy", block).groups()
    assert (left, right) == (f"{doses['Left kidney']:.2g}", f"{doses['Right kidney']:.2g}")
