"""``iahprrt convert DIR -o OUT.nrrd``: one DICOM series to a volume file, geometry kept."""

from __future__ import annotations

import json

HELP = "convert one DICOM image series (CT, PT) to NRRD/NIfTI in its stored units (rescale applied)"


def add_arguments(parser) -> None:
    parser.add_argument("folder", help="DICOM folder holding the series")
    parser.add_argument("-o", "--output", required=True, help="output volume file (.nrrd, .nii.gz)")
    parser.add_argument("--series-uid", help="SeriesInstanceUID to read when the folder holds several series")


def run(args) -> int:
    from ..io.dicom_series import read_series
    from ..io.output_files import check_output_file
    from ..io.volume_files import VOLUME_SUFFIXES, write_volume

    check_output_file(args.output, VOLUME_SUFFIXES)
    series = read_series(args.folder, series_uid=args.series_uid)
    write_volume(series.volume, args.output)
    summary = dict(series.volume.metadata)
    summary.update({"output": args.output, "unit": series.volume.unit, "grid": series.volume.grid.to_dict()})
    print(json.dumps(summary, indent=2))
    return 0
