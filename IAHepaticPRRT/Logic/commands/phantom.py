"""``iahprrt phantom OUT_DIR``: write the synthetic trial patient (DICOM, segmentations, truth.json)."""

from __future__ import annotations

import json

HELP = "write the synthetic trial patient: IA/IV 68Ga PET/CT, 177Lu SPECT/CT (4 time points), segmentations, truth"
DESCRIPTION = (HELP + ". The same arguments give byte-identical files. See docs/phantom.md for the anatomy, "
               "uptake values, kinetics, vendor variants and sizes.")


def add_arguments(parser) -> None:
    parser.add_argument("output", metavar="OUT_DIR", help="output folder (must be new or empty)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the noise (default 1)")
    parser.add_argument("--no-noise", action="store_true", help="noise-free images (PET, SPECT and CT)")
    parser.add_argument("--vendor", choices=("siemens", "ge", "philips"), default="siemens",
                        help="style of the DICOM headers (default siemens)")
    parser.add_argument("--small", action="store_true",
                        help="coarse grids for fast tests (generates in a few seconds) instead of the default size")
    parser.add_argument("--follow-up", action="store_true",
                        help="also the 18-month follow-up: MR and CT scans at baseline and 3, 6, 12 and 18 months with "
                             "their segmentations, each lesion's volume following a known dose-response model "
                             "(manifest_ct.json and manifest_carry_over.json use the CT scans and carried VOIs)")


def run(args) -> int:
    from ..phantom.generate import generate_phantom

    from .progress import ProgressPrinter

    progress = ProgressPrinter(args.quiet)
    truth = generate_phantom(args.output, seed=args.seed, noise=not args.no_noise, vendor=args.vendor,
                             size="small" if args.small else "default", follow_up=args.follow_up, progress=progress)
    progress.done("synthetic patient written")
    summary = {
        "output": args.output,
        "generator": truth["generator"],
        "mean_enhancement_ratio": truth["mean_enhancement_ratio"],
        "eligible": truth["eligible"],
        "truth": "truth.json",
    }
    if "followup" in truth:
        followup = truth["followup"]
        summary["followup"] = {"visits": [v["name"] for v in followup["visits"]],
                               "best_overall_response": followup["recist"]["best_overall_response"],
                               "pfs_months": followup["pfs_months"], "pfs_event_type": followup["pfs_event_type"],
                               "new_lesion": followup["new_lesion"]["visit"] if followup["new_lesion"] else None}
    print(json.dumps(summary, indent=2))
    return 0
