"""``iahprrt propagate SEG TRANSFORM --reference DIR -o OUT.seg.nrrd``: carry VOIs onto another scan."""

from __future__ import annotations

HELP = "carry a segmentation onto another scan's grid through a registration transform"
DESCRIPTION = (
    "Carry the segments of SEG (drawn on the MOVING scan of 'iahprrt register') onto the grid of the "
    "--reference scan (its FIXED scan) through TRANSFORM (fixed -> moving, ITK). Each target voxel is "
    "in a VOI when at least half of it is covered (3 x 3 x 3 sub-samples; --mode nearest: its centre). "
    "Prints each VOI's volume before and after, and the Dice against --target-seg when given.")


def add_arguments(parser) -> None:
    parser.add_argument("segmentation", help="segmentation to carry (.seg.nrrd, or a label map with --labels)")
    parser.add_argument("transform", help="ITK transform file from 'iahprrt register' (.tfm, .h5)")
    parser.add_argument("--reference", required=True,
                        help="scan whose grid receives the VOIs: DICOM folder or volume file")
    parser.add_argument("--reference-series-uid", help="SeriesInstanceUID when the folder holds several series")
    parser.add_argument("-o", "--output", required=True, help="output .seg.nrrd")
    parser.add_argument("--labels", metavar="CSV", help="value,name CSV when SEG is a label map")
    parser.add_argument("--mode", choices=("fraction", "nearest"), default="fraction",
                        help="fraction (default): voxel in the VOI when >= 50 %% covered; nearest: voxel centre")
    parser.add_argument("--inverse", action="store_true",
                        help="use the inverse transform (SEG is on the FIXED scan, --reference is the MOVING "
                             "scan); linear transforms only")
    parser.add_argument("--target-seg", metavar="SEG",
                        help="the reference scan's own segmentation: Dice of each propagated VOI against it")
    parser.add_argument("--target-labels", metavar="CSV", help="value,name CSV when --target-seg is a label map")
    parser.add_argument("--summary", metavar="JSON", help="also write the JSON summary to this file")


def run(args) -> int:
    import time

    from ..imaging.transforms import inverse
    from ..io.image_input import read_image
    from ..io.output_files import check_output_file, files_together, to_json_text, write_json
    from ..io.segmentation_files import read_segmentation, write_seg_nrrd
    from ..io.transform_files import read_transform
    from ..registration.propagation import compare_with_target, propagate_segmentation

    start = time.perf_counter()
    check_output_file(args.output, (".seg.nrrd",))
    if args.summary:
        check_output_file(args.summary, (".json",), "--summary")
    segmentation = read_segmentation(args.segmentation, args.labels)
    transform = read_transform(args.transform)
    if args.inverse:
        transform = inverse(transform)
    reference = read_image(args.reference, args.reference_series_uid)
    # The target VOIs (for Dice) belong to the reference scan: an RTSTRUCT is rasterised for it.
    target = read_segmentation(args.target_seg, args.target_labels, reference) if args.target_seg else None
    result = propagate_segmentation(segmentation, transform, reference.grid, args.mode)
    summary = {"segmentation": str(args.segmentation), "transform_file": str(args.transform),
               "inverse": bool(args.inverse), "reference": str(args.reference),
               "reference_grid": reference.grid.to_dict(), "output": str(args.output), **result.to_dict()}
    if target is not None:
        rows = compare_with_target(result.segmentation, target)
        summary["dice"] = rows
        summary["target_segmentation"] = str(args.target_seg)
        if not rows:
            summary["warnings"].append("no segment of --target-seg has the name of a propagated segment")
    summary["elapsed_s"] = time.perf_counter() - start
    with files_together() as stage:
        write_seg_nrrd(result.segmentation, stage(args.output))
        if args.summary:
            write_json(stage(args.summary), summary)
    print(to_json_text(summary), end="")
    return 0
