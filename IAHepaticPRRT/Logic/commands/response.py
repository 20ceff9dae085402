"""``iahprrt response MANIFEST -o OUT_DIR``: the follow-up of one patient (RECIST 1.1, volumetric
response, PFS, dose-response) from its manifest's ``followup`` section."""

from __future__ import annotations

HELP = "follow-up of one patient: lesion volumes and diameters per visit, RECIST 1.1 and volumetric response, PFS"
DESCRIPTION = (HELP + ". Reads the manifest's followup section (docs/manifest.md); writes OUT_DIR/response.json, "
               "OUT_DIR/response.csv and, for visits whose VOIs were carried by registration, their refined "
               "segmentations; prints a JSON summary. The dose-response needs the lesions' doses: "
               "followup.lesion_doses_gy or followup.dosimetry_results (iahprrt run computes them itself).")


def add_arguments(parser) -> None:
    parser.add_argument("manifest", help="the patient's manifest (JSON) with a followup section")
    parser.add_argument("-o", "--output", required=True, help="output folder (created)")


def run(args) -> int:
    from ..errors import InputError
    from ..io.output_files import check_output_folder, output_folder, to_json_text
    from ..study.followup_run import run_followup, write_followup_outputs
    from ..study.manifest import read_manifest

    check_output_folder(args.output)
    manifest = read_manifest(args.manifest)
    if "followup" not in manifest.data:
        raise InputError("the manifest has no followup section", manifest.path, "followup")
    result = run_followup(manifest.data, manifest.path, patient_id=manifest.patient_id)
    with output_folder(args.output):
        outputs = write_followup_outputs(result, args.output)
    report = result.report
    summary = {
        "patient_id": manifest.patient_id,
        "visits": [{"visit": v["name"], "overall_response": v["recist"]["overall_response"]} for v in report["visits"]],
        "best_overall_response": report["recist"]["best_overall_response"],
        "progression_visit": report["recist"]["progression_visit"],
        "pfs_months": report["pfs_months"], "pfs_event_type": report["pfs_event_type"],
        "progressed": report["progressed"], "outputs": outputs,
    }
    print(to_json_text(summary), end="")
    return 0
