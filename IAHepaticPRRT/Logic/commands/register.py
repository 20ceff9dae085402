"""``iahprrt register FIXED MOVING -o TRANSFORM.tfm``: CT-to-CT (or MRI-to-CT) registration.

The transform written maps FIXED-image points to MOVING-image points (ITK convention): it is the
one ``iahprrt propagate`` uses to carry VOIs drawn on MOVING onto FIXED's grid, and the one to put
the moving volume under in Slicer. One JSON summary is printed on stdout.
"""

from __future__ import annotations

HELP = "register two scans (CT to CT, or MRI to CT with --mri); write an ITK transform file (fixed -> moving)"
DESCRIPTION = (
    "Register MOVING to FIXED and write the transform mapping FIXED points to MOVING points (ITK "
    "convention; LPS mm). FIXED and MOVING are DICOM series folders or volume files (.nrrd, .nii.gz). "
    "Prints a JSON summary: metric before/after, rigid parameters (translation mm, rotation degrees about "
    "the stated centre), time, and the target registration error when landmark files are given.")


def split_segment_argument(text: str, option: str) -> tuple[str, str]:
    """'path/to/file.seg.nrrd:Segment name' -> (path, segment name)."""
    from ..errors import InputError

    path, sep, segment = text.rpartition(":")
    if not sep or not path or not segment.strip():
        raise InputError(f"expected SEGMENTATION:SEGMENT (for example liver.seg.nrrd:Liver), got '{text}'", option)
    return path, segment.strip()


def add_arguments(parser) -> None:
    parser.add_argument("fixed", help="FIXED scan (the grid VOIs are carried onto): DICOM folder or volume file")
    parser.add_argument("moving", help="MOVING scan: DICOM folder or volume file")
    parser.add_argument("-o", "--output", required=True,
                        help="transform file to write: .tfm (text) or .h5 (also for --deformable)")
    parser.add_argument("--fixed-series-uid", help="SeriesInstanceUID when FIXED's folder holds several series")
    parser.add_argument("--moving-series-uid", help="SeriesInstanceUID when MOVING's folder holds several series")
    parser.add_argument("--roi", metavar="SEG:SEGMENT",
                        help="restrict the metric to this segment (dilated by --roi-margin-mm), e.g. "
                             "ia.seg.nrrd:Liver; the segmentation may be on any grid (resampled to FIXED)")
    parser.add_argument("--roi-labels", metavar="CSV", help="value,name CSV when the --roi file is a label map")
    parser.add_argument("--roi-margin-mm", type=float, default=30.0, help="margin added around the ROI (default 30)")
    parser.add_argument("--deformable", action="store_true",
                        help="add a B-spline stage on top of the rigid one (CT to CT)")
    parser.add_argument("--mesh-spacing-mm", type=float, default=50.0,
                        help="B-spline control-point spacing (default 50)")
    parser.add_argument("--mri", action="store_true",
                        help="MOVING is an MRI (mutual information, body-centre initialisation)")
    parser.add_argument("--affine", action="store_true", help="affine (12 parameters) instead of rigid")
    parser.add_argument("--metric", choices=("auto", "mattes", "correlation"), default="auto",
                        help="CT-to-CT rigid/affine metric: Mattes mutual information or correlation; auto (default): "
                             "Mattes for the whole image, correlation inside a --roi (more reliable on soft tissue)")
    parser.add_argument("--init", choices=("auto", "none", "geometry", "moments"), default="auto",
                        help="initialisation: best of the others by metric (auto, default), identity (none), "
                             "field-of-view centres (geometry), body centres of mass (moments)")
    parser.add_argument("--working-spacing-mm", type=float, default=2.0,
                        help="images are averaged down to about this spacing before registering (default 2; "
                             "0 = native)")
    parser.add_argument("--center-lps-mm", metavar=("X", "Y", "Z"), nargs=3, type=float,
                        help="centre about which rotation and translation are reported, LPS mm (default: centre of "
                             "mass of the fixed region)")
    parser.add_argument("--landmarks-fixed", metavar="CSV", help="landmarks on FIXED (name,x,y,z LPS mm, or .fcsv)")
    parser.add_argument("--landmarks-moving", metavar="CSV", help="the same landmarks on MOVING")
    parser.add_argument("--resampled", metavar="FILE", help="also write MOVING resampled onto FIXED's grid")
    parser.add_argument("--summary", metavar="JSON", help="also write the JSON summary to this file")


def _roi_mask(args, fixed):
    from ..imaging.voi_helpers import dilate_mm
    from ..io.segmentation_files import read_segmentation

    if not args.roi:
        return None, None
    path, segment = split_segment_argument(args.roi, "--roi")
    segmentation = read_segmentation(path, args.roi_labels, fixed)  # an RTSTRUCT is rasterised for FIXED
    mask = segmentation.resampled(fixed.grid, "nearest").mask(segment) if not segmentation.grid.is_same(fixed.grid) \
        else segmentation.mask(segment)
    if not mask.any():
        from ..errors import InputError

        raise InputError(f"segment '{segment}' does not cover any voxel of FIXED", path, segment)
    mask = dilate_mm(mask, fixed.grid, args.roi_margin_mm)
    return mask, {"segmentation": path, "segment": segment, "margin_mm": args.roi_margin_mm,
                  "volume_ml": float(mask.sum()) * fixed.grid.voxel_volume_ml}


def run(args) -> int:
    import time

    from ..errors import InputError
    from ..io.image_input import read_image
    from ..io.output_files import check_output_file, files_together, to_json_text, write_json
    from ..io.transform_files import TRANSFORM_SUFFIXES, write_transform
    from ..registration.register import refine_affine, register_deformable, register_multimodal, register_rigid

    start = time.perf_counter()
    check_output_file(args.output, TRANSFORM_SUFFIXES)
    if args.resampled:
        from ..io.volume_files import VOLUME_SUFFIXES

        check_output_file(args.resampled, VOLUME_SUFFIXES, "--resampled")
    if args.summary:
        check_output_file(args.summary, (".json",), "--summary")
    if args.deformable and args.mri:
        raise InputError("deformable MRI-to-CT registration is not offered (rigid or --affine only)", "--deformable")
    if bool(args.landmarks_fixed) != bool(args.landmarks_moving):
        raise InputError("give both --landmarks-fixed and --landmarks-moving", "--landmarks-fixed")
    center = list(args.center_lps_mm) if args.center_lps_mm else None
    landmarks = None
    if args.landmarks_fixed:
        from ..registration.landmarks import read_landmarks

        landmarks = (read_landmarks(args.landmarks_fixed), read_landmarks(args.landmarks_moving))
    from .progress import ProgressPrinter

    progress = ProgressPrinter(args.quiet)
    progress(0.0, "register: reading the fixed and moving images")
    fixed = read_image(args.fixed, args.fixed_series_uid)
    moving = read_image(args.moving, args.moving_series_uid)
    progress(0.2, "register: " + ("MRI to CT" if args.mri else "CT to CT") + (" affine" if args.affine else " rigid")
             + (" then deformable" if args.deformable else ""))
    mask, roi = _roi_mask(args, fixed)
    options = {"initialization": args.init, "working_spacing_mm": args.working_spacing_mm or None,
               "center_lps_mm": center}
    if args.mri:
        result = register_multimodal(fixed, moving, mask, transform_type="affine" if args.affine else "rigid",
                                     **options)
    else:
        metric = args.metric if args.metric != "auto" else ("correlation" if mask is not None else "mattes")
        result = register_rigid(fixed, moving, mask, metric=metric, **options)
        if args.affine:
            result = refine_affine(fixed, moving, result, mask, working_spacing_mm=options["working_spacing_mm"])
    if args.deformable:
        result = register_deformable(fixed, moving, result, mask, mesh_spacing_mm=args.mesh_spacing_mm)
    summary = {
        "fixed": {"source": str(args.fixed), "grid": fixed.grid.to_dict(),
                  "series_instance_uid": fixed.metadata.get("series_instance_uid")},
        "moving": {"source": str(args.moving), "grid": moving.grid.to_dict(),
                   "series_instance_uid": moving.metadata.get("series_instance_uid")},
        "transform_file": str(args.output),
        "mode": "MRI to CT" if args.mri else "CT to CT",
        "roi": roi,
        **result.to_dict(),
    }
    if landmarks is not None:
        from ..registration.landmarks import target_registration_error

        summary["target_registration_error"] = target_registration_error(result.transform, *landmarks)
    resampled = None
    if args.resampled:
        from ..imaging.resample import resample_volume

        resampled = resample_volume(moving, fixed.grid, result.transform, "linear",
                                    default_value=-1000.0 if moving.unit == "HU" else 0.0)
    summary["elapsed_s"] = time.perf_counter() - start
    progress.done("register: writing the transform")
    # Everything computed: now write (a failure above leaves no output behind).
    with files_together() as stage:
        write_transform(result.transform, stage(args.output))
        if resampled is not None:
            from ..io.volume_files import write_volume

            write_volume(resampled, stage(args.resampled))
            summary["resampled_file"] = str(args.resampled)
        if args.summary:
            write_json(stage(args.summary), summary)
    print(to_json_text(summary), end="")
    return 0
