"""``iahprrt run MANIFEST -o OUT_DIR``: one patient end to end (uptake, dosimetry, report)."""

from __future__ import annotations

HELP = "run one patient end to end from a study manifest (uptake, dosimetry, HTML report, JSON/CSV)"
DESCRIPTION = (HELP + ". The manifest format is in docs/manifest.md. Writes OUT_DIR/uptake/, OUT_DIR/dosimetry/, "
               "OUT_DIR/results.json and OUT_DIR/report.html; prints a JSON summary.")


def add_arguments(parser) -> None:
    parser.add_argument("manifest", help="the patient's manifest (JSON)")
    parser.add_argument("-o", "--output", required=True, help="output folder (created)")


def summary_of(results: dict) -> dict:
    uptake = results.get("uptake") or {}
    dosimetry = results.get("dosimetry") or {}
    limits = (dosimetry.get("limits") or {}).get("limits") or {}
    return {
        "patient_id": results["patient_id"],
        "mean_enhancement_ratio": uptake.get("mean_enhancement_ratio"),
        "eligible": uptake.get("eligible"),
        "cumulative_doses_gy": {key: item.get("cumulative") for key, item in limits.items()},
        "limits_exceeded": sorted(key for key, item in limits.items() if item.get("exceeded")),
        "outputs": results["outputs"],
    }


def run(args) -> int:
    from ..output_files import to_json_text
    from ..pipeline import run_patient

    results = run_patient(args.manifest, args.output)
    print(to_json_text(summary_of(results)), end="")
    return 0
