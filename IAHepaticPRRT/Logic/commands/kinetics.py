"""``iahprrt kinetics TAC.csv -o OUT_DIR --administered-mbq A``: fit time-activity curves, TIA, residence time."""

from __future__ import annotations

import json

HELP = "fit VOI time-activity curves (CSV voi,time_h,activity_mbq[,mass_g]): TIA, residence time, LDM dose"
DESCRIPTION = (HELP + ". Writes OUT_DIR/kinetics.json. Models: mono-exp, bi-exp-uptake, bi-exp, tri-exp, trapezoid, "
               "hanscheid-stp, auto (corrected AIC). Optional CSV column activity_uncertainty_mbq weights the fit.")


def add_arguments(parser) -> None:
    from ..dosimetry.kinetics import MODEL_CHOICES

    parser.add_argument("tac_csv", help="CSV with columns voi,time_h,activity_mbq[,mass_g][,activity_uncertainty_mbq]")
    parser.add_argument("-o", "--output", required=True, help="output folder (created)")
    from .suv import add_accept_argument

    add_accept_argument(parser)
    parser.add_argument("--administered-mbq", type=float, required=True, help="administered activity (MBq)")
    parser.add_argument("--residual-mbq", type=float, default=0.0, help="residual activity left in syringe/lines (MBq)")
    parser.add_argument("--model", default="auto", choices=MODEL_CHOICES, help="kinetic model (default auto)")
    parser.add_argument("--calibration-uncertainty-percent", type=float, default=0.0,
                        help="relative standard uncertainty of the calibration factor (%%), added to the TIA's")
    parser.add_argument("--activity-uncertainty-percent", type=float, default=None,
                        help="relative standard uncertainty of each activity (%%) when the CSV has no uncertainty column")
    parser.add_argument("--no-clamp", action="store_true",
                        help="let rates go below the 177Lu physical decay constant (default: clamped)")
    parser.add_argument("--trapezoid-start", choices=("zero", "constant"), default="zero",
                        help="trapezoid before the first point: from 0 at administration (default) or the first value")


def run(args) -> int:
    from ..dosimetry.kinetics_table import run_kinetics
    from ..io.output_files import check_output_folder

    check_output_folder(args.output)
    summary = run_kinetics(args.tac_csv, args.output, args.administered_mbq, args.model, args.residual_mbq,
                           args.calibration_uncertainty_percent, args.activity_uncertainty_percent,
                           not args.no_clamp, args.trapezoid_start, frozenset(args.accept))
    print(json.dumps(summary, indent=2))
    return 0
