"""``iahprrt demo -o DIR``: the whole analysis on the bundled synthetic patient."""

from __future__ import annotations

HELP = ("generate the synthetic trial patient and run the whole analysis on it; prints the JSON summary (with the "
        "report's path) on stdout, progress on stderr")


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--output", required=True, help="output folder (created; must not hold a previous demo)")
    parser.add_argument("--seed", type=int, default=1, help="noise seed of the synthetic patient (default 1)")
    parser.add_argument("--small", action="store_true", help="the small, coarse patient (seconds instead of a minute)")
    parser.add_argument("--vendor", choices=("siemens", "ge", "philips"), default="siemens",
                        help="PET header style of the synthetic patient (default siemens)")
    parser.add_argument("--dicom", action="store_true",
                        help="also write the DICOM results (RT Dose, SEG, SR) into OUTPUT/results/dicom (needs highdicom)")


def run(args) -> int:
    from ..io.output_files import to_json_text
    from ..study.demo import run_demo
    from .progress import ProgressPrinter

    progress = ProgressPrinter(args.quiet)
    summary = run_demo(args.output, seed=args.seed, small=args.small, vendor=args.vendor, progress=progress,
                       dicom=args.dicom)
    progress.done(f"report: {summary['outputs']['report']}")
    print(to_json_text(summary), end="")
    return 0
