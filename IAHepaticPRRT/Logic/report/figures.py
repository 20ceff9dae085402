"""The report's images: PET slices through each target lesion with its VOI and its SUVmax voxel,
coronal maximum-intensity projections, and the dose map over the CT with isodose lines.

Drawn with numpy and written as PNG by SimpleITK (bundled with Slicer), embedded as data URIs so the
report stays one self-contained file. Every image is resampled onto a
plane of patient coordinates, whatever the scan's orientation, and shown in the radiological
convention: axial slices seen from the feet (patient right on the image's left, anterior up),
coronal views seen from the front (patient right on the left, head up).

Each function returns a :class:`Figure`: the PNG bytes and the facts its caption states (the window,
the slice position), so the caption shows the numbers the image was drawn with.
"""

from __future__ import annotations

import base64
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..imaging.grid import Grid
from ..imaging.volume import Volume

#: Display pixel size (mm) of slice images: fine enough to show a 12 mm lesion's contour.
PIXEL_MM = 0.5
#: Half-width of the field shown around a lesion (mm).
LESION_FIELD_MM = 45.0
#: Isodose levels (Gy) drawn when they fall inside the shown dose range, and their colours.
ISODOSE_LEVELS_GY = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 40.0, 80.0)
ISODOSE_COLOURS = ((80, 80, 255), (0, 170, 255), (0, 200, 120), (170, 220, 0), (255, 200, 0), (255, 120, 0),
                   (230, 30, 30), (200, 0, 160))
VOI_COLOUR = (255, 255, 255)
PET_VOI_COLOUR = (0, 150, 255)
MARKER_COLOUR = (255, 40, 40)


@dataclass
class Figure:
    png: bytes
    caption: dict = field(default_factory=dict)

    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


# ---- PNG -------------------------------------------------------------------------------------------
def png_bytes(rgb: np.ndarray) -> bytes:
    """An 8-bit RGB image [rows, columns, 3] as PNG bytes (SimpleITK's PNG writer)."""
    import SimpleITK as sitk

    image = sitk.GetImageFromArray(np.ascontiguousarray(rgb, dtype=np.uint8), isVector=True)
    with tempfile.TemporaryDirectory(prefix="iahprrt-png-") as folder:
        path = os.path.join(folder, "image.png")
        sitk.WriteImage(image, path)
        return Path(path).read_bytes()


# ---- sampling on patient planes ----------------------------------------------------------------------
def _sample(volume_array: np.ndarray, grid: Grid, points_lps: np.ndarray, nearest: bool = False,
            outside: float = 0.0) -> np.ndarray:
    """Values at LPS points (trilinear, or nearest voxel), ``outside`` beyond the grid."""
    from scipy import ndimage

    index_ijk = grid.lps_to_index(points_lps.reshape(-1, 3))
    coordinates = index_ijk[:, ::-1].T  # [k, j, i] rows for map_coordinates
    values = ndimage.map_coordinates(np.asarray(volume_array, dtype=np.float32), coordinates, order=0 if nearest else 1,
                                     mode="constant", cval=outside)
    return values.reshape(points_lps.shape[:-1])


def axial_plane(centre_lps, half_width_mm: float, pixel_mm: float = PIXEL_MM) -> np.ndarray:
    """LPS points [rows, columns, 3] of an axial plane through ``centre_lps``, seen from the feet:
    columns run to the patient's left (+x), rows to posterior (+y)."""
    offsets = np.arange(-half_width_mm, half_width_mm + 1e-9, pixel_mm)
    x, y = np.meshgrid(centre_lps[0] + offsets, centre_lps[1] + offsets)
    return np.stack([x, y, np.full_like(x, centre_lps[2])], axis=-1)


def coronal_plane(grid: Grid, pixel_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """The LPS x and z coordinates covering ``grid``'s extent, for a coronal view seen from the front
    (columns to the patient's left, rows from head to feet)."""
    corners = grid.index_to_lps(np.array([[i, j, k] for i in (0, grid.size_ijk[0] - 1)
                                          for j in (0, grid.size_ijk[1] - 1) for k in (0, grid.size_ijk[2] - 1)],
                                         dtype=float))
    lo, hi = corners.min(axis=0), corners.max(axis=0)
    return np.arange(lo[0], hi[0] + 1e-9, pixel_mm), np.arange(hi[2], lo[2] - 1e-9, -pixel_mm)


# ---- drawing -----------------------------------------------------------------------------------------
def _grey(values: np.ndarray, low: float, high: float, inverted: bool = False) -> np.ndarray:
    scaled = np.clip((values - low) / max(high - low, 1e-12), 0.0, 1.0)
    if inverted:
        scaled = 1.0 - scaled
    grey = (255.0 * scaled).astype(np.uint8)
    return np.repeat(grey[..., np.newaxis], 3, axis=-1)


def _boundary(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of ``mask`` within ``width`` pixels (4-neighbour steps) of its outside: its contour."""
    inner = np.asarray(mask, dtype=bool)
    for _ in range(width):
        padded = np.pad(inner, 1)
        inner = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def _paint(rgb: np.ndarray, where: np.ndarray, colour) -> None:
    rgb[where] = colour


def _cross(rgb: np.ndarray, row: int, column: int, colour, arm: int = 6) -> None:
    """A cross two pixels thick centred on (row, column), its centre left open to show the voxel."""
    rows, columns = rgb.shape[:2]
    for d in range(-arm, arm + 1):
        if abs(d) < 3:
            continue
        for r, c in ((row + d, column), (row, column + d), (row + d, column + 1), (row + 1, column + d)):
            if 0 <= r < rows and 0 <= c < columns:
                rgb[r, c] = colour


# ---- the figures -----------------------------------------------------------------------------------
def _pixel_of(plane: np.ndarray, point_lps, pixel_mm: float) -> tuple[int, int]:
    """(row, column) of an LPS point on an axial plane from :func:`axial_plane`."""
    return (int(round((point_lps[1] - plane[0, 0, 1]) / pixel_mm)),
            int(round((point_lps[0] - plane[0, 0, 0]) / pixel_mm)))


def lesion_slice(suv: Volume, voi_mask: np.ndarray, voi_grid: Grid, window_max: float, marker_lps=None,
                 half_width_mm: float = LESION_FIELD_MM) -> Figure:
    """An axial PET slice through ``marker_lps`` (the VOI's SUVmax voxel as the statistics found it;
    without it, the VOI's centroid): inverted grey from 0 to ``window_max`` SUV, the VOI's contour
    (blue) and a red cross, open at its centre, on the marked voxel."""
    centre = np.asarray(marker_lps if marker_lps is not None else centroid_lps(voi_mask, voi_grid), dtype=float)
    plane = axial_plane(centre, half_width_mm)
    rgb = _grey(_sample(suv.array, suv.grid, plane), 0.0, window_max, inverted=True)
    inside_plane = _sample(voi_mask.astype(np.float32), voi_grid, plane, nearest=True) > 0.5
    _paint(rgb, _boundary(inside_plane, 3), PET_VOI_COLOUR)
    if marker_lps is not None:
        _cross(rgb, *_pixel_of(plane, centre, PIXEL_MM), MARKER_COLOUR, arm=12)
    return Figure(png_bytes(rgb), {"z_mm": float(centre[2]), "window_suv": [0.0, float(window_max)],
                                   "field_mm": 2 * half_width_mm, "contour_in_slice": bool(inside_plane.any())})


def coronal_mip(suv: Volume, window_max: float, pixel_mm: float = 2.0) -> Figure:
    """Coronal maximum-intensity projection (maximum along anterior-posterior), inverted grey from 0
    to ``window_max`` SUV, seen from the front."""
    xs, zs = coronal_plane(suv.grid, pixel_mm)
    corners = suv.grid.index_to_lps(np.array([[0, 0, 0], [suv.grid.size_ijk[0] - 1, suv.grid.size_ijk[1] - 1,
                                                            suv.grid.size_ijk[2] - 1]], dtype=float))
    ys = np.arange(corners[:, 1].min(), corners[:, 1].max() + 1e-9, max(pixel_mm, min(suv.grid.spacing_mm)))
    projection = np.zeros((len(zs), len(xs)), dtype=np.float32)
    x, z = np.meshgrid(xs, zs)
    for y in ys:  # one coronal plane at a time: the memory of one plane, not of a resampled volume
        plane = np.stack([x, np.full_like(x, y), z], axis=-1)
        np.maximum(projection, _sample(suv.array, suv.grid, plane), out=projection)
    return Figure(png_bytes(_grey(projection, 0.0, window_max, inverted=True)),
                  {"window_suv": [0.0, float(window_max)], "pixel_mm": pixel_mm})


def isodose_levels(maximum_gy: float) -> list[tuple[float, tuple[int, int, int]]]:
    """The isodose levels of :data:`ISODOSE_LEVELS_GY` from 2 % of ``maximum_gy`` up to it, with colours."""
    return [(level, colour) for level, colour in zip(ISODOSE_LEVELS_GY, ISODOSE_COLOURS)
            if 0.02 * maximum_gy <= level <= maximum_gy]


def dose_slice(dose: Volume, background: Volume, background_window: tuple[float, float], centre_lps,
               vois: list[tuple[np.ndarray, Grid]], max_lines: int = 5, half_width_mm: float = 120.0,
               pixel_mm: float = 0.75) -> Figure:
    """An axial slice of the background (CT, grey) under the dose map: each band between isodose levels
    washed in its level's colour (40 % opacity), the isodose lines in full colour, and the VOIs'
    contours in white. Levels: the highest ``max_lines`` of :func:`isodose_levels` of the slice."""
    plane = axial_plane(np.asarray(centre_lps, dtype=float), half_width_mm, pixel_mm)
    rgb = _grey(_sample(background.array, background.grid, plane, outside=background_window[0]),
                *background_window).astype(np.float32)
    dose_values = _sample(dose.array, dose.grid, plane)
    levels = isodose_levels(float(dose_values.max()))[-max_lines:]
    for level, colour in levels:  # ascending: a higher band paints over a lower one
        band = dose_values >= level
        rgb[band] = 0.6 * rgb[band] + 0.4 * np.asarray(colour, dtype=np.float32)
    rgb = rgb.astype(np.uint8)
    for level, colour in levels:
        _paint(rgb, _boundary(dose_values >= level, 2), colour)
    for mask, grid in vois:
        _paint(rgb, _boundary(_sample(mask.astype(np.float32), grid, plane, nearest=True) > 0.5, 2), VOI_COLOUR)
    return Figure(png_bytes(rgb), {"z_mm": float(centre_lps[2]), "slice_max_dose_gy": float(dose_values.max()),
                                   "isodose_levels_gy": [level for level, _ in levels],
                                   "isodose_colours": ["#%02x%02x%02x" % colour for _, colour in levels],
                                   "field_mm": 2 * half_width_mm})


def centroid_lps(mask: np.ndarray, grid: Grid) -> np.ndarray:
    k, j, i = np.nonzero(mask)
    return grid.index_to_lps(np.array([[i.mean(), j.mean(), k.mean()]]))[0]
