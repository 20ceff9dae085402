"""``iahprrt batch COHORT_DIR -o OUT_DIR``: every patient manifest of a folder, in parallel."""

from __future__ import annotations

HELP = "run every manifest of a cohort folder in parallel processes; write cohort.csv and a statistical summary"
DESCRIPTION = (HELP + ". Manifests are COHORT_DIR/*.json or COHORT_DIR/*/manifest.json. A failing patient is "
               "reported with its error and the others go on; the exit status is 0 when every patient succeeded, "
               "4 when some failed.")

EXIT_SOME_FAILED = 4


def add_arguments(parser) -> None:
    parser.add_argument("cohort", help="folder of patient manifests")
    parser.add_argument("-o", "--output", required=True, help="output folder (created)")
    parser.add_argument("--workers", type=int, help="parallel processes (default: one per CPU, at most one per patient)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


def run(args) -> int:
    from ..errors import InputError
    from ..io.output_files import to_json_text
    from ..study.batch import run_batch

    if args.workers is not None and args.workers < 1:
        raise InputError("must be at least 1", "--workers")
    summary = run_batch(args.cohort, args.output, args.workers, progress=not (args.no_progress or args.quiet))
    print(to_json_text(summary), end="")
    return EXIT_SOME_FAILED if summary["failed"] else 0
