"""``iahprrt dosimetry --spect TP1 TP2 ... --seg SEG -o OUT_DIR --administered-mbq A``: 177Lu SPECT/CT dosimetry."""

from __future__ import annotations

HELP = "177Lu SPECT/CT dosimetry: registration, VOI kinetics, TIA, residence time, dose map (LDM/VSV), DVH, BED"
DESCRIPTION = (HELP + ". Writes OUT_DIR/dosimetry.json, OUT_DIR/dose.nrrd (Gy, reference SPECT geometry) and "
               "OUT_DIR/dvh.csv; prints a summary as JSON.")


def _iso_datetime(text: str):
    import argparse
    import datetime as dt

    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time (YYYY-MM-DDTHH:MM[:SS]): {text}") from None
    return value.replace(tzinfo=None)


def add_arguments(parser) -> None:
    from ..dosimetry.kinetics import MODEL_CHOICES
    from ..dosimetry.voxel import VOXEL_MODELS

    parser.add_argument("--spect", nargs="+", required=True, metavar="TP",
                        help="one SPECT per time point, in acquisition order: DICOM folder or file (NM RECON TOMO, "
                             "or PT series) or a volume file in Bq/mL (needs --times-h)")
    parser.add_argument("--times-h", nargs="+", type=float, metavar="T",
                        help="hours from administration to each acquisition start (default: from the headers)")
    parser.add_argument("--seg", required=True,
                        help="VOIs on the reference time point: .seg.nrrd, label map, DICOM RTSTRUCT or DICOM SEG")
    parser.add_argument("--labels", help="value,name CSV for a label-map --seg")
    parser.add_argument("-o", "--output", required=True, help="output folder (created)")
    parser.add_argument("--administered-mbq", type=float, required=True, help="administered 177Lu activity (MBq)")
    parser.add_argument("--administration-time", type=_iso_datetime,
                        help="administration date-time, ISO (e.g. 2025-03-04T09:30); default: header "
                             "RadiopharmaceuticalStartDateTime, with a warning")
    parser.add_argument("--residual-mbq", type=float, default=0.0, help="residual activity (syringe, lines) in MBq")
    parser.add_argument("--calibration-cps-per-mbq", type=float,
                        help="camera calibration factor for count data (cps/MBq); default: the header's, if any")
    parser.add_argument("--calibration-uncertainty-percent", type=float, default=0.0,
                        help="relative standard uncertainty of the calibration factor (%%)")
    parser.add_argument("--acquisition-duration-s", nargs="+", type=float, metavar="S",
                        help="acquisition duration(s) overriding the header (one, or one per time point)")
    parser.add_argument("--method", choices=("ldm", "vsv"), default="ldm",
                        help="dose map: local deposition (default) or voxel S-value convolution")
    parser.add_argument("--model", choices=MODEL_CHOICES, default="auto", help="VOI kinetic model (default auto)")
    parser.add_argument("--voxel-model", choices=VOXEL_MODELS, default="mono-exp",
                        help="voxel-wise TIA model for the body's voxels in no VOI (default mono-exp, trapezoid "
                             "fallback); inside VOIs the dose map carries each VOI's own TIA")
    parser.add_argument("--ct", nargs="+", metavar="CT", help="one CT DICOM folder per time point (registration, density)")
    parser.add_argument("--ct-calibration", help="site HU-density calibration CSV hu,density_g_per_ml")
    parser.add_argument("--no-registration", action="store_true",
                        help="do not register: time points resampled in scanner coordinates")
    parser.add_argument("--reference", type=int, default=1, help="reference time point, 1-based (default 1)")
    parser.add_argument("--recovery", help="recovery coefficients CSV volume_ml,rc[,rc_uncertainty]")
    parser.add_argument("--pvc-fwhm-mm", type=float,
                        help="partial-volume correction of the VOI activities by the geometric transfer matrix, for "
                             "a Gaussian SPECT resolution of this FWHM (mm); each VOI's corrected TIA is carried into the dose map")
    parser.add_argument("--activity-uncertainty-percent", type=float,
                        help="relative standard uncertainty of each VOI activity (%%); weights the fits")
    parser.add_argument("--previous-cycles", help="CSV or JSON of earlier cycles: cycle,kidney_dose_gy,kidney_bed_gy,"
                                                  "bone_marrow_dose_gy")
    parser.add_argument("--kidney-risk-factors", action="store_true", help="use the kidney BED limit 28 Gy (not 40)")
    parser.add_argument("--phantom-sex", choices=("male", "female"), help="organ S-value phantom (default PatientSex)")
    parser.add_argument("--no-clamp", action="store_true", help="let rates go below the physical decay constant")
    parser.add_argument("--dicom-out", metavar="DIR", help="also write the dose map as RT Dose, the VOIs as DICOM SEG "
                                                           "and the measurements as a TID 1500 SR into DIR (needs "
                                                           "highdicom; the reference time point must be DICOM)")
    from .suv import add_accept_argument

    add_accept_argument(parser)


def options_from_args(args):
    from ..dosimetry.ct_density import DEFAULT_CALIBRATION, read_calibration
    from ..dosimetry.limits import read_previous_cycles
    from ..dosimetry.options import DosimetryOptions
    from ..dosimetry.recovery import read_recovery_table

    return DosimetryOptions(
        administered_mbq=args.administered_mbq, administration_datetime=args.administration_time,
        residual_mbq=args.residual_mbq, times_h=args.times_h, calibration_cps_per_mbq=args.calibration_cps_per_mbq,
        calibration_uncertainty_percent=args.calibration_uncertainty_percent,
        acquisition_duration_s=args.acquisition_duration_s, method=args.method, model=args.model,
        voxel_model=args.voxel_model, clamp=not args.no_clamp, registration=not args.no_registration,
        reference_index=args.reference - 1, activity_uncertainty_percent=args.activity_uncertainty_percent,
        recovery_table=read_recovery_table(args.recovery) if args.recovery else None,
        partial_volume_fwhm_mm=args.pvc_fwhm_mm,
        ct_calibration=read_calibration(args.ct_calibration) if args.ct_calibration else DEFAULT_CALIBRATION,
        previous_cycles=read_previous_cycles(args.previous_cycles) if args.previous_cycles else None,
        kidney_risk_factors=args.kidney_risk_factors, phantom_sex=args.phantom_sex,
        accept=frozenset(args.accept))


def run(args) -> int:
    from contextlib import nullcontext

    from ..dosimetry.cycle import write_outputs
    from ..io.output_files import check_output_folder, output_folder
    from ..study.dosimetry_run import run_dosimetry

    check_output_folder(args.output)
    if args.dicom_out:
        check_output_folder(args.dicom_out, "--dicom-out")
    from .progress import ProgressPrinter

    progress = ProgressPrinter(args.quiet)
    options = options_from_args(args)
    result = run_dosimetry(args.spect, args.seg, options, args.labels, args.ct, progress=progress)
    progress(0.95, "dosimetry: writing dosimetry.json, dose.nrrd, dvh.csv")
    dicom_objects = None
    if args.dicom_out:
        from ..study.dicom_export import build_dicom_results

        dicom_objects = build_dicom_results("dosimetry", dosimetry={
            "result": result, "spect": args.spect, "reference_index": args.reference - 1, "segmentation": args.seg,
            "labels": args.labels})
    with output_folder(args.output), (output_folder(args.dicom_out, "--dicom-out") if dicom_objects else nullcontext()):
        paths = write_outputs(result, args.output)
        if dicom_objects:
            from ..study.dicom_export import write_dicom_results

            paths["dicom"] = write_dicom_results(args.dicom_out, dicom_objects)
    summary = {"outputs": paths, "vois": [
        {"name": v["name"], "tia_mbqh": v.get("tia_mbqh"), "residence_time_h": v.get("residence_time_h"),
         "absorbed_dose_gy": v.get("absorbed_dose_gy"),
         "absorbed_dose_uncertainty_gy": v.get("absorbed_dose_uncertainty_gy")}
        for v in result.report["vois"]], "warnings": result.report["warnings"]}
    from ..io.output_files import to_json_text

    print(to_json_text(summary), end="")
    return 0
