"""``iahprrt suv PET_DIR -o OUT.nrrd``: a DICOM PET series to an SUV volume, vendor-neutrally.

Prints one JSON object describing every choice (reference time, injection time, activities,
half-life, normaliser, overrides, warnings). See docs/uptake.md.
"""

from __future__ import annotations

HELP = "convert a DICOM PET series to SUV (bw, lbm-james, lbm-janma, bsa, ibw) from its own headers"

DESCRIPTION = (HELP + ". Values given on the command line (weight, height, sex, injected and residual activity, "
               "injection time, half-life) replace the header's, with a warning in the JSON.")


def add_override_arguments(parser, prefix: str = "", route: str = "") -> None:
    """The per-scan override options (``--weight-kg`` or, with a prefix, ``--ia-weight-kg``)."""
    dash = f"--{prefix}-" if prefix else "--"
    dest = f"{prefix}_" if prefix else ""
    of = f" of the {route} scan" if route else ""
    parser.add_argument(f"{dash}weight-kg", dest=f"{dest}weight_kg", type=float,
                        help=f"patient weight in kg{of} (replaces PatientWeight)")
    parser.add_argument(f"{dash}height-cm", dest=f"{dest}height_cm", type=float,
                        help=f"patient height in cm{of} (replaces PatientSize)")
    parser.add_argument(f"{dash}sex", dest=f"{dest}sex", choices=["M", "F"], help=f"patient sex{of} (replaces PatientSex)")
    parser.add_argument(f"{dash}injected-mbq", dest=f"{dest}injected_mbq", type=float,
                        help=f"injected activity in MBq{of} (replaces RadionuclideTotalDose)")
    parser.add_argument(f"{dash}residual-mbq", dest=f"{dest}residual_mbq", type=float,
                        help=f"residual activity (syringe, catheter) in MBq at the injection time{of}; "
                             "net = injected - residual")
    parser.add_argument(f"{dash}injection-time", dest=f"{dest}injection_time",
                        help=f"injection date-time{of}, ISO 2025-01-31T10:05:00 (or 10:05:00 on the series date); "
                             "replaces RadiopharmaceuticalStartDateTime")
    parser.add_argument(f"{dash}half-life-s", dest=f"{dest}half_life_s", type=float,
                        help=f"radionuclide half-life in s{of} (replaces RadionuclideHalfLife; normally leave it)")
    parser.add_argument(f"{dash}series-uid", dest=f"{dest}series_uid",
                        help=f"SeriesInstanceUID of the PET series{of} when its folder holds several")


def add_accept_argument(parser) -> None:
    """``--accept CHECK`` (repeatable): a plausibility check a real site may trip (docs/physics.md section 21)."""
    from ..sanity import CHECKS

    parser.add_argument("--accept", action="append", default=[], metavar="CHECK", choices=sorted(CHECKS),
                        help="use a value that a plausibility check refuses, with a warning in the results "
                             f"(repeatable; one of {', '.join(sorted(CHECKS))})")


def overrides_from_args(args, prefix: str = ""):
    from ..uptake.suv import SuvOverrides

    dest = f"{prefix}_" if prefix else ""
    return SuvOverrides(
        weight_kg=getattr(args, f"{dest}weight_kg"), height_cm=getattr(args, f"{dest}height_cm"),
        sex=getattr(args, f"{dest}sex"), injected_mbq=getattr(args, f"{dest}injected_mbq"),
        residual_mbq=getattr(args, f"{dest}residual_mbq"), injection_time=getattr(args, f"{dest}injection_time"),
        half_life_s=getattr(args, f"{dest}half_life_s"), accept=frozenset(getattr(args, "accept", ()) or ()))


def add_arguments(parser) -> None:
    from ..uptake.suv_normalisers import SUV_TYPES

    parser.add_argument("folder", help="DICOM folder holding the PET series")
    parser.add_argument("-o", "--output", required=True, help="output SUV volume (.nrrd, .nii.gz), float32")
    parser.add_argument("--suv-type", default="bw", choices=SUV_TYPES, help="SUV normalisation (default bw)")
    add_override_arguments(parser)
    add_accept_argument(parser)


def run(args) -> int:
    from ..io.output_files import check_output_file, to_json_text
    from ..io.volume_files import VOLUME_SUFFIXES, write_volume
    from ..uptake.suv import suv_from_folder

    check_output_file(args.output, VOLUME_SUFFIXES)
    result = suv_from_folder(args.folder, args.suv_type, overrides_from_args(args), args.series_uid)
    write_volume(result.volume, args.output)
    info = dict(result.info)
    info["output"] = str(args.output)
    print(to_json_text(info), end="")
    return 0
