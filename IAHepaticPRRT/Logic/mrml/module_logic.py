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

    # ---- dosimetry ---------------------------------------------------------------------------
    def run_dosimetry(self, spect_sources, segmentation_path, options, labels_csv=None, ct_sources=None,
                      name: str = "Dosimetry"):
        """177Lu dosimetry of one cycle from files (see :func:`iahepaticprrt.dosimetry.run_dosimetry`);
        returns (result, nodes): the dose volume node, results table, TAC and DVH charts."""
        from ..dosimetry import run_dosimetry
        from .dosimetry_nodes import dosimetry_nodes

        result = run_dosimetry(spect_sources, segmentation_path, options, labels_csv, ct_sources)
        return result, dosimetry_nodes(self.scene, result, name)

    # ---- PET uptake (issue 4) ----------------------------------------------------------------
    def compare_uptake(self, ia_pet_folder, iv_pet_folder, ia_segmentation_node, iv_segmentation_node, **options):
        """IA versus IV SUV per VOI, enhancement ratios and eligibility: SUV volume nodes, a table node
        and a bar chart (see :func:`iahepaticprrt.mrml.uptake_nodes.compare_uptake_in_scene`)."""
        from .uptake_nodes import compare_uptake_in_scene

        return compare_uptake_in_scene(self.scene, ia_pet_folder, iv_pet_folder, ia_segmentation_node,
                                       iv_segmentation_node, **options)


def segmentation_name(path) -> str:
    from pathlib import Path

    name = Path(path).name
    for suffix in (".seg.nrrd", ".nii.gz", ".nrrd", ".nii"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
