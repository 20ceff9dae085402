"""``iahprrt series DIR``: list the DICOM image series in a folder."""

from __future__ import annotations

import json

HELP = "list the DICOM image series in a folder (UID, modality, description, files)"


def add_arguments(parser) -> None:
    parser.add_argument("folder", help="folder searched recursively for DICOM files")


def run(args) -> int:
    from ..io.dicom_series import scan_folder

    found = scan_folder(args.folder)
    print(json.dumps([s.to_dict() for s in found], indent=2))
    return 0
