"""``iahprrt uptake --ia PET --iv PET --ia-seg SEG --iv-seg SEG -o OUT``: IA versus IV 68Ga PET uptake.

Writes OUT/uptake.json and OUT/uptake.csv (docs/uptake.md) and prints the JSON's summary.
"""

from __future__ import annotations

HELP = "compare intra-arterial and intravenous 68Ga PET uptake per VOI (SUV, enhancement ratio, eligibility)"

DESCRIPTION = (HELP + ". Each PET is converted to SUV from its own headers; each segmentation (Slicer .seg.nrrd, "
               "DICOM RTSTRUCT or SEG, or a label map with a value,name CSV) is resampled to its PET with "
               "partial-voxel weights.")


def add_arguments(parser) -> None:
    from ..uptake.comparison import DEFAULT_PET_FWHM_MM, METRICS, ORGAN_METRICS
    from ..uptake.suv_normalisers import SUV_TYPES
    from .suv import add_accept_argument, add_override_arguments

    parser.add_argument("--ia", required=True, help="DICOM folder of the intra-arterial (day 0) PET")
    parser.add_argument("--iv", required=True, help="DICOM folder of the intravenous (day 3) PET")
    parser.add_argument("--ia-seg", required=True,
                        help="segmentation of the IA scan (.seg.nrrd, label map, DICOM RTSTRUCT or DICOM SEG)")
    parser.add_argument("--iv-seg", required=True,
                        help="segmentation of the IV scan (.seg.nrrd, label map, DICOM RTSTRUCT or DICOM SEG)")
    parser.add_argument("-o", "--output", required=True, help="output folder (uptake.json, uptake.csv)")
    parser.add_argument("--threshold", type=float, default=3.0, help="eligibility threshold of the mean ratio (3)")
    parser.add_argument("--metric", default="suv_max", choices=METRICS, help="lesion metric of the ratio (suv_max)")
    parser.add_argument("--organ-metric", default="suv_mean", choices=ORGAN_METRICS,
                        help="organ statistic of the tumour-to-organ ratios (suv_mean)")
    parser.add_argument("--suv-type", default="bw", choices=SUV_TYPES, help="SUV normalisation (bw)")
    parser.add_argument("--fwhm-mm", type=float, default=DEFAULT_PET_FWHM_MM,
                        help=f"PET resolution for the small-lesion flag (default {DEFAULT_PET_FWHM_MM:g} mm)")
    parser.add_argument("--labels", help="value,name CSV for label-map segmentations (both scans)")
    parser.add_argument("--ia-labels", help="value,name CSV of the IA label map (instead of --labels)")
    parser.add_argument("--iv-labels", help="value,name CSV of the IV label map (instead of --labels)")
    parser.add_argument("--mapping", help="renaming file (JSON or CSV 'site name,default name')")
    parser.add_argument("--save-suv", action="store_true", help="also write OUT/ia_suv.nrrd and OUT/iv_suv.nrrd")
    parser.add_argument("--dicom-out", metavar="DIR", help="also write each PET's VOIs as DICOM SEG and the measurements "
                                                           "as a TID 1500 SR into DIR (needs highdicom)")
    parser.add_argument("--healthy-liver-margin-mm", type=float,
                        help="healthy liver = liver minus the lesions dilated by this margin (default 2 x --fwhm-mm)")
    for route, label in (("ia", "intra-arterial"), ("iv", "intravenous")):
        parser.add_argument(f"--{route}-reference-centre", type=float, nargs=3, metavar=("X", "Y", "Z"),
                            help=f"centre (LPS mm) of the 30 mm liver reference sphere on the {label} scan "
                                 "(default: placed automatically)")
    parser.add_argument("--noise-model", default="poisson", choices=("poisson", "proportional"),
                        help="noise variance proportional to the SUV (poisson, default) or noise SD proportional to it")
    parser.add_argument("--replicates", type=int, default=None,
                        help="simulated images per SIMEX noise level for the ratio intervals (default 100; 0: none)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the ratio-interval simulation")
    parser.add_argument("--confidence", type=float, default=0.95, help="confidence of the ratio intervals (0.95)")
    parser.add_argument("--site", help="site (centre) name, recorded with the cross-calibration")
    parser.add_argument("--calibration-factor", type=float, default=1.0,
                        help="PET cross-calibration factor of the site (SUV x factor; from its phantom QC), both scans")
    parser.add_argument("--ia-calibration-factor", type=float, help="cross-calibration factor of the IA scan only")
    parser.add_argument("--iv-calibration-factor", type=float, help="cross-calibration factor of the IV scan only")
    add_override_arguments(parser, "ia", "intra-arterial")
    add_override_arguments(parser, "iv", "intravenous")
    add_accept_argument(parser)


def _given(value, default):
    return default if value is None else value


def run(args) -> int:
    from contextlib import nullcontext

    from ..io.output_files import check_output_folder, output_folder, to_json_text
    from ..uptake.comparison import UptakeParameters, run_uptake, write_outputs
    from .suv import overrides_from_args

    check_output_folder(args.output)
    if args.dicom_out:
        check_output_folder(args.dicom_out, "--dicom-out")
    optional = {key: value for key, value in (("replicates_per_level", args.replicates), ("seed", args.seed))
                if value is not None}
    parameters = UptakeParameters(
        metric=args.metric, threshold=args.threshold, suv_type=args.suv_type, organ_metric=args.organ_metric,
        pet_fwhm_mm=args.fwhm_mm, healthy_liver_margin_mm=args.healthy_liver_margin_mm,
        ia_reference_centre_lps_mm=tuple(args.ia_reference_centre) if args.ia_reference_centre else None,
        iv_reference_centre_lps_mm=tuple(args.iv_reference_centre) if args.iv_reference_centre else None,
        noise_model=args.noise_model, confidence=args.confidence, site=args.site,
        ia_cross_calibration_factor=_given(args.ia_calibration_factor, args.calibration_factor),
        iv_cross_calibration_factor=_given(args.iv_calibration_factor, args.calibration_factor),
        cross_calibration_source="command line" if args.site or args.calibration_factor != 1.0 or
        args.ia_calibration_factor is not None or args.iv_calibration_factor is not None else None, **optional)
    from .progress import ProgressPrinter

    progress = ProgressPrinter(args.quiet)
    result, suv = run_uptake(
        folders={"ia": args.ia, "iv": args.iv}, segmentation_paths={"ia": args.ia_seg, "iv": args.iv_seg},
        parameters=parameters, labels={"ia": args.ia_labels or args.labels, "iv": args.iv_labels or args.labels},
        overrides={route: overrides_from_args(args, route) for route in ("ia", "iv")},
        series_uids={route: getattr(args, f"{route}_series_uid") for route in ("ia", "iv")}, mapping_path=args.mapping,
        progress=progress)
    progress.done("uptake: writing uptake.json and uptake.csv")
    dicom_objects = None
    if args.dicom_out:
        from ..study.dicom_export import build_dicom_results

        dicom_objects = build_dicom_results(
            result.get("provenance", {}).get("patient_id") or "uptake", {
                "result": result, "suv": suv, "segmentations": {"ia": args.ia_seg, "iv": args.iv_seg},
                "labels": {"ia": args.ia_labels or args.labels, "iv": args.iv_labels or args.labels},
                "mapping": args.mapping})
    with output_folder(args.output), (output_folder(args.dicom_out, "--dicom-out") if dicom_objects else nullcontext()):
        outputs = write_outputs(result, args.output, suv if args.save_suv else None)
        if dicom_objects:
            from ..study.dicom_export import write_dicom_results

            outputs += write_dicom_results(args.dicom_out, dicom_objects)
    summary = {key: result[key] for key in ("metric", "threshold", "mean_enhancement_ratio", "eligible",
                                            "mean_enhancement_ratio_ci_low", "mean_enhancement_ratio_ci_high",
                                            "probability_mean_at_least_threshold", "borderline",
                                            "target_lesions_in_mean", "warnings")}
    summary["outputs"] = outputs
    print(to_json_text(summary), end="")
    return 0
