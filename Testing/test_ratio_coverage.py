"""Acceptance of the enhancement-ratio interval (issue 14): over 20 noisy seeds of the synthetic
patient, the 95 % interval of the mean ratio contains the noise-free patient's mean ratio in 17 to
20 of them, and ``borderline`` is set exactly when the interval contains the threshold 3.

The truth here is the noise-free phantom's own mean ratio (``--no-noise``, same geometry and
resolution), not the painted 3.75: partial volume lowers the small lesions' ratios the same way with
and without noise, and the interval is about noise only.

In CI: the ``--small`` patient (6 mm PET voxels; about 2 minutes on two cores). The default-size
patient (4 mm voxels, about 4 minutes) runs with ``IAHPRRT_SLOW_TESTS=1``; both results are in
docs/uptake.md ("How sure is the ratio").
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import pytest

from iahepaticprrt.cli import main

SEEDS = range(1, 21)
THRESHOLD = 3.0
SLOW = os.environ.get("IAHPRRT_SLOW_TESTS") == "1"


def _uptake(folder: str) -> dict:
    from iahepaticprrt.uptake.comparison import run_uptake

    result, _ = run_uptake({"ia": f"{folder}/ia_day0/pet", "iv": f"{folder}/iv_day3/pet"},
                           {"ia": f"{folder}/segmentations/ia_day0.seg.nrrd",
                            "iv": f"{folder}/segmentations/iv_day3.seg.nrrd"})
    return {metric: {**result["uncertainty"][metric]} for metric in ("suv_max", "suv_peak")} | {
        "borderline": result["borderline"], "metric": result["metric"]}


def _patient(args: tuple) -> dict:
    folder, seed, size = args
    extra = ["--small"] if size == "small" else []
    noise = ["--no-noise"] if seed is None else ["--seed", str(seed)]
    assert main(["phantom", folder, *noise, *extra]) == 0
    return _uptake(folder)


@pytest.fixture(scope="module", params=["small", pytest.param("default", marks=pytest.mark.skipif(
    not SLOW, reason="default-size coverage study: set IAHPRRT_SLOW_TESTS=1"))])
def study(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"coverage_{request.param}")
    jobs = [(str(root / "noise-free"), None, request.param)] + [(str(root / f"seed{s}"), s, request.param)
                                                                 for s in SEEDS]
    with ProcessPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(_patient, jobs))
    return request.param, results[0], results[1:]


def _covered(noise_free: dict, noisy: list[dict], metric: str) -> int:
    truth = noise_free[metric]["mean_ratio"]
    return sum(r[metric]["ci_low"] <= truth <= r[metric]["ci_high"] for r in noisy)


def test_suv_peak_interval_covers_the_noise_free_mean_ratio(study):
    size, noise_free, noisy = study
    # The noise-free intervals are points (no noise in the reference sphere).
    assert noise_free["suv_peak"]["ci_high"] - noise_free["suv_peak"]["ci_low"] < 1e-3
    covered = _covered(noise_free, noisy, "suv_peak")
    print(f"{size}: SUVpeak intervals containing {noise_free['suv_peak']['mean_ratio']:.4f}: {covered} of 20")
    assert 17 <= covered <= 20


def test_suv_max_interval_coverage(study):
    # Measured 19 of 20 (docs/uptake.md): SUVmax's interval is wide (its noise bias is large and only partly
    # removed), so it covers too, mainly by its width.
    size, noise_free, noisy = study
    covered = _covered(noise_free, noisy, "suv_max")
    print(f"{size}: SUVmax intervals containing {noise_free['suv_max']['mean_ratio']:.4f}: {covered} of 20")
    assert 17 <= covered <= 20
    width = {m: sum(r[m]["ci_high"] - r[m]["ci_low"] for r in noisy) / len(noisy) for m in ("suv_max", "suv_peak")}
    assert width["suv_max"] > 2 * width["suv_peak"]


def test_borderline_exactly_when_the_interval_contains_the_threshold(study):
    _, _, noisy = study
    flags = []
    for r in noisy:
        for metric in ("suv_max", "suv_peak"):
            contains = r[metric]["ci_low"] <= THRESHOLD <= r[metric]["ci_high"]
            assert r[metric]["borderline"] is contains
            # The probability agrees with the interval: inside a central 95 % interval, between 2.5 % and 97.5 %.
            probability = r[metric]["probability_at_least_threshold"]
            assert (0.02 <= probability <= 0.98) if contains else (probability < 0.03 or probability > 0.97)
        assert r["borderline"] is r[r["metric"]]["borderline"]  # the patient's flag is the primary metric's
        flags.append(r["borderline"])
    # Both states occur among the 20 patients (the SUVmax interval of a few reaches down to 3).
    assert any(flags) and not all(flags)
