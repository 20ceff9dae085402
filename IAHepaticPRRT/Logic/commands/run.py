"""``iahprrt run MANIFEST -o OUT_DIR``: one patient end to end (uptake, dosimetry, report)."""

from __future__ import annotations

HELP = "run one patient end to end from a study manifest (uptake, dosimetry, HTML report, JSON/CSV)"
DESCRIPTION = (HELP + ". The manifest format is in docs/manifest.md. Writes OUT_DIR/uptake/, OUT_DIR/dosimetry/, "
               "OUT_DIR/results.json and OUT_DIR/report.html; prints a JSON summary.")


def add_arguments(parser) -> None:
    parser.add_argument("manifest", help="the patient's manifest (JSON)")
    parser.add_argument("-o", "--output", required=True, help="output folder (created)")
    parser.add_argument("--dicom-out", metavar="DIR",
                        help="also write the results as DICOM (RT Dose, SEG, TID 1500 SR) into DIR (needs the "
                             "optional package highdicom); the manifest's \"report\": {\"dicom\": true} writes "
                             "them into OUT_DIR/dicom")


def run(args) -> int:
    from ..io.output_files import to_json_text
    from ..study.pipeline import run_patient, summary_of
    from .progress import ProgressPrinter

    progress = ProgressPrinter(args.quiet)
    results = run_patient(args.manifest, args.output, progress=progress, dicom_out=args.dicom_out)
    progress.done(f"report: {results['outputs']['report']}")
    print(to_json_text(summary_of(results)), end="")
    return 0
