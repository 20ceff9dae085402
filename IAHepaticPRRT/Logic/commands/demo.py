"""``iahprrt demo -o DIR``: the whole analysis on the bundled synthetic patient."""

from __future__ import annotations

HELP = "run every analysis on the bundled synthetic trial patient and write the results to a folder"


def add_arguments(parser) -> None:
    parser.add_argument("-o", "--output", required=True, help="output folder (created)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the synthetic patient (default 1)")


def run(args) -> int:
    from ..demo import run_demo

    report = run_demo(args.output, seed=args.seed)
    print(report)
    return 0
