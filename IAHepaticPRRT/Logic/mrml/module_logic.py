"""What the Slicer module's logic does, without Qt: loads inputs into the scene, runs the
package's computations on node contents, and puts results back as nodes.

The scripted module's ``IAHepaticPRRTLogic`` delegates here, so the same code runs inside Slicer
and on the headless host (tests, command line).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import adapter
from .host import Host, current_host


@dataclass
class ModuleLogic:
    host: Host

    @classmethod
    def create(cls) -> "ModuleLogic":
        return cls(current_host())

    @property
    def scene(self):
        return self.host.scene

    # ---- inputs ------------------------------------------------------------------------------
    def load_dicom_volume(self, folder, name: str | None = None, series_uid: str | None = None):
        """A DICOM series folder (CT, PT) into a new scalar volume node."""
        return adapter.load_dicom_series_as_volume_node(self.scene, folder, name, series_uid)

    def load_segmentation(self, path, labels_csv=None, name: str | None = None):
        """A ``.seg.nrrd`` or label map + labels CSV into a new segmentation node."""
        from ..segmentation import read_segmentation

        segmentation = read_segmentation(path, labels_csv)
        return adapter.segmentation_node_from_segmentation(self.scene, segmentation, name or segmentation_name(path))

    # ---- registration ------------------------------------------------------------------------
    def register_volumes(self, fixed_node, moving_node, roi_segmentation_node=None, roi_segment=None, **options):
        """Register ``moving_node`` to ``fixed_node`` (see mrml/registration_nodes.py); returns
        (transform node, RegistrationResult). Put the moving volume or its segmentation under the node."""
        from .registration_nodes import register_volume_nodes

        return register_volume_nodes(self.scene, fixed_node, moving_node, roi_segmentation_node, roi_segment, **options)


def segmentation_name(path) -> str:
    from pathlib import Path

    name = Path(path).name
    for suffix in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
