"""Anatomy of the synthetic trial patient: analytic solids, CT numbers, densities, segments.

Patient coordinates are DICOM LPS in mm (+x patient left, +y posterior, +z superior), in the
reference pose (the intra-arterial day-0 PET/CT). The torso is a 300 mm long elliptic cylinder
(340 x 240 mm) centred on the origin: subcutaneous fat around soft tissue, holding the lung bases,
the liver (right, anterior) with five metastases, both kidneys (tilted, the right one lower), the
spleen (left, posterior), the abdominal aorta, nine vertebrae (cortical shell, cancellous marrow,
intervertebral discs, posterior arches) and one extra-hepatic lesion (a mesenteric mass, the usual
site of a small-bowel primary). Solids are nested (each inside its parent tissue) or disjoint, so
the visible volume of a tissue is exactly its solid's volume minus its children's.

Densities (mass = volume x density):

- every segment (lesions, liver, kidneys, spleen, bone marrow VOI, extra-hepatic lesion) and the
  soft tissue: 1.04 g/mL, the soft-tissue density of the 177Lu voxel S-value database the
  dosimetry uses (Lanconelli et al., Phys Med Biol 2012;57:517; the kernels' attribution in dosimetry/data/lu177-voxel-s-values/README.md),
  so local-deposition and kernel doses use the same mass;
- adipose tissue 0.95, inflated lung 0.26, cortical bone 1.92, blood 1.06 g/mL (ICRU Report 46,
  1992, Table 4.x body tissues); they only enter the Body mass.

CT numbers (HU, unenhanced CT) are typical values: fat -100, soft tissue 45, liver 60, metastases
38 (hypodense), kidney 32, spleen 48, blood 40, lung -850, cortical bone 700, cancellous bone
(marrow) 230, disc 90, posterior arch 600.
"""

from __future__ import annotations

import math

import numpy as np

from .shapes import Box, CappedEllipsoid, Ellipsoid, EllipticCylinder, Sphere, Tissue, centroid, rotation_matrix_deg

#: Soft-tissue density used for every segment (Lanconelli et al. 2012 voxel S-value medium).
SOFT_TISSUE_DENSITY_G_PER_ML = 1.04
#: ICRU Report 46 (1992) densities of the non-segment tissues.
ADIPOSE_DENSITY_G_PER_ML = 0.95
LUNG_DENSITY_G_PER_ML = 0.26
CORTICAL_BONE_DENSITY_G_PER_ML = 1.92
BLOOD_DENSITY_G_PER_ML = 1.06

#: Torso: elliptic cylinder, semi-axes (mm) and half length along z.
TORSO_SEMI_AXES_MM = (170.0, 120.0)
TORSO_HALF_LENGTH_MM = 150.0
FAT_THICKNESS_MM = 15.0

#: Target liver metastases: (segment, diameter mm, centre LPS mm).
LESIONS = [
    ("Lesion 1", 40.0, (-92.0, -38.0, 58.0)),
    ("Lesion 2", 32.0, (-40.0, -62.0, 30.0)),
    ("Lesion 3", 24.0, (-110.0, -5.0, 10.0)),
    ("Lesion 4", 18.0, (-55.0, -15.0, 92.0)),
    ("Lesion 5", 12.0, (-20.0, -45.0, 75.0)),
]
EXTRAHEPATIC_LESION = ("Extrahepatic lesion 1", 30.0, (45.0, -55.0, -75.0))

#: Vertebrae: centres along z (mm), body semi-axes, height, cortical shell thickness.
VERTEBRA_PITCH_MM = 34.0
VERTEBRA_Z_MM = [VERTEBRA_PITCH_MM * n for n in range(-4, 5)]
VERTEBRA_CENTRE_XY_MM = (0.0, 45.0)
VERTEBRA_SEMI_AXES_MM = (22.0, 16.0)
VERTEBRA_HALF_HEIGHT_MM = 13.0
CORTEX_MM = 2.0
DISC_HALF_HEIGHT_MM = 3.5
#: Vertebrae whose marrow forms the "Bone marrow" VOI (inside every PET/CT field of view).
MARROW_VOI_VERTEBRAE = range(1, 8)

SEGMENT_NAMES = ["Lesion 1", "Lesion 2", "Lesion 3", "Lesion 4", "Lesion 5", "Extrahepatic lesion 1",
                 "Liver", "Healthy liver", "Left kidney", "Right kidney", "Spleen", "Bone marrow", "Vertebral bone",
                 "Body"]

#: Display colours of the segments (RGB 0..1).
SEGMENT_COLOURS = {
    "Lesion 1": (0.9, 0.2, 0.2), "Lesion 2": (0.95, 0.5, 0.1), "Lesion 3": (0.95, 0.85, 0.1),
    "Lesion 4": (0.6, 0.2, 0.8), "Lesion 5": (0.9, 0.3, 0.6), "Extrahepatic lesion 1": (0.2, 0.8, 0.8),
    "Liver": (0.85, 0.55, 0.4), "Healthy liver": (0.6, 0.35, 0.25), "Left kidney": (0.3, 0.5, 0.9),
    "Right kidney": (0.2, 0.35, 0.8), "Spleen": (0.55, 0.3, 0.6), "Bone marrow": (0.95, 0.95, 0.8),
    "Vertebral bone": (0.9, 0.9, 0.9), "Body": (0.75, 0.75, 0.7),
}


def build_tissues() -> list[Tissue]:
    """The phantom's tissues in painting order (every parent before its children)."""
    half = TORSO_HALF_LENGTH_MM
    a, b = TORSO_SEMI_AXES_MM
    st = SOFT_TISSUE_DENSITY_G_PER_ML
    tissues = [
        Tissue("subcutaneous fat", [EllipticCylinder((0.0, 0.0, 0.0), (a, b), half)], -100.0,
               ADIPOSE_DENSITY_G_PER_ML, kind="fat"),
        Tissue("soft tissue", [EllipticCylinder((0.0, 0.0, 0.0), (a - FAT_THICKNESS_MM, b - FAT_THICKNESS_MM), half)],
               45.0, st, parent="subcutaneous fat", kind="soft_tissue"),
        Tissue("right lung", [CappedEllipsoid((-85.0, 25.0, 215.0), (55.0, 65.0, 100.0), half)], -850.0,
               LUNG_DENSITY_G_PER_ML, parent="soft tissue", kind="lung"),
        Tissue("left lung", [CappedEllipsoid((85.0, 25.0, 220.0), (55.0, 65.0, 100.0), half)], -850.0,
               LUNG_DENSITY_G_PER_ML, parent="soft tissue", kind="lung"),
        Tissue("aorta", [EllipticCylinder((25.0, 18.0, 0.0), (11.0, 11.0), half)], 40.0,
               BLOOD_DENSITY_G_PER_ML, parent="soft tissue", kind="blood"),
        Tissue("healthy liver", [Ellipsoid((-58.0, -22.0, 45.0), (82.0, 64.0, 72.0), rotation_matrix_deg(0, 0, -12))],
               60.0, st, parent="soft tissue", segment="Healthy liver", kind="liver"),
    ]
    for name, diameter, centre in LESIONS:
        tissues.append(Tissue(name, [Sphere(centre, diameter / 2.0)], 38.0, st, parent="healthy liver", segment=name,
                              kind="lesion"))
    tissues += [
        Tissue("left kidney", [Ellipsoid((72.0, 50.0, -38.0), (27.0, 22.0, 55.0), rotation_matrix_deg(0, -15, 0))],
               32.0, st, parent="soft tissue", segment="Left kidney", kind="kidney"),
        Tissue("right kidney", [Ellipsoid((-72.0, 50.0, -52.0), (27.0, 22.0, 55.0), rotation_matrix_deg(0, 15, 0))],
               32.0, st, parent="soft tissue", segment="Right kidney", kind="kidney"),
        Tissue("spleen", [Ellipsoid((100.0, 30.0, 50.0), (24.0, 42.0, 48.0), rotation_matrix_deg(0, 0, 25))], 48.0,
               st, parent="soft tissue", segment="Spleen", kind="spleen"),
    ]
    xc, yc = VERTEBRA_CENTRE_XY_MM
    va, vb = VERTEBRA_SEMI_AXES_MM
    for n, z in enumerate(VERTEBRA_Z_MM):
        tissues.append(Tissue(f"vertebra {n + 1} cortex", [EllipticCylinder((xc, yc, z), (va, vb), VERTEBRA_HALF_HEIGHT_MM)],
                              700.0, CORTICAL_BONE_DENSITY_G_PER_ML, parent="soft tissue", kind="bone"))
        in_voi = n in MARROW_VOI_VERTEBRAE
        tissues.append(Tissue(
            f"vertebra {n + 1} marrow",
            [EllipticCylinder((xc, yc, z), (va - CORTEX_MM, vb - CORTEX_MM), VERTEBRA_HALF_HEIGHT_MM - CORTEX_MM)],
            230.0, st, parent=f"vertebra {n + 1} cortex", segment="Bone marrow" if in_voi else "", kind="marrow"))
        # Posterior arch: pedicles, lamina and spinous process (boxes behind the spinal canal).
        arch = [Box((-14.0, 69.5, z), (4.5, 7.5, 7.0)), Box((14.0, 69.5, z), (4.5, 7.5, 7.0)),
                Box((0.0, 81.0, z), (18.5, 4.0, 7.0)), Box((0.0, 92.0, z - 3.0), (4.0, 7.0, 8.0))]
        tissues.append(Tissue(f"vertebra {n + 1} arch", arch, 600.0, CORTICAL_BONE_DENSITY_G_PER_ML,
                              parent="soft tissue", kind="bone"))
        if n < len(VERTEBRA_Z_MM) - 1:
            zd = z + VERTEBRA_PITCH_MM / 2.0
            tissues.append(Tissue(f"disc {n + 1}", [EllipticCylinder((xc, yc, zd), (va, vb), DISC_HALF_HEIGHT_MM)],
                                  90.0, st, parent="soft tissue", kind="disc"))
    name, diameter, centre = EXTRAHEPATIC_LESION
    tissues.append(Tissue(name, [Sphere(centre, diameter / 2.0)], 40.0, st, parent="soft tissue", segment=name,
                          kind="extrahepatic_lesion"))
    return tissues


def visible_volumes_ml(tissues: list[Tissue]) -> dict[str, float]:
    """Exact volume of each tissue's visible part: its solids minus its children's solids."""
    volumes = {t.name: t.shape_volume_ml for t in tissues}
    for t in tissues:
        if t.parent:
            volumes[t.parent] -= t.shape_volume_ml
    return volumes


def segment_tissues(tissues: list[Tissue]) -> dict[str, list[str]]:
    """Segment name -> the tissues whose visible parts make it up."""
    members: dict[str, list[str]] = {name: [] for name in SEGMENT_NAMES}
    for t in tissues:
        if t.segment:
            members[t.segment].append(t.name)
    members["Liver"] = ["healthy liver"] + [name for name, _, _ in LESIONS]
    # Cortex, arches and discs: the low-uptake neighbours of the marrow VOI (segmenting them lets a
    # partial-volume correction tell their activity from the marrow's).
    members["Vertebral bone"] = [t.name for t in tissues if t.kind in ("bone", "disc")]
    members["Body"] = [t.name for t in tissues]
    return members


def _combined_centroid(parts: list[tuple[float, np.ndarray]]) -> list[float]:
    total = sum(v for v, _ in parts)
    return [float(x) for x in sum(v * c for v, c in parts) / total]


def segment_shape(name: str, tissues: list[Tissue]) -> dict:
    """Analytic description of a segment in the reference pose (JSON-friendly)."""
    by_name = {t.name: t for t in tissues}
    if name == "Body":
        return by_name["subcutaneous fat"].shapes[0].to_dict()
    if name == "Liver":
        return by_name["healthy liver"].shapes[0].to_dict()
    if name == "Healthy liver":
        return {"type": "difference", "of": by_name["healthy liver"].shapes[0].to_dict(),
                "minus": [by_name[n].shapes[0].to_dict() for n, _, _ in LESIONS]}
    members = segment_tissues(tissues)[name]
    shapes = [s for m in members for s in by_name[m].shapes]
    if len(shapes) == 1:
        return shapes[0].to_dict()
    return {"type": "union", "of": [s.to_dict() for s in shapes]}


def region_table(tissues: list[Tissue]) -> dict[str, dict]:
    """Per segment: exact volume (mL), mass (g), density, centroid (reference pose) and shape."""
    from ..imaging.voi_roles import role_of

    volumes = visible_volumes_ml(tissues)
    by_name = {t.name: t for t in tissues}
    members = segment_tissues(tissues)
    table = {}
    for name in SEGMENT_NAMES:
        parts = members[name]
        volume = sum(volumes[p] for p in parts)
        mass = sum(volumes[p] * by_name[p].density_g_per_ml for p in parts)
        if name == "Healthy liver":
            liver = by_name["healthy liver"].shapes[0]
            pieces = [(liver.volume_ml, centroid(liver))] + [
                (-by_name[n].shapes[0].volume_ml, centroid(by_name[n].shapes[0])) for n, _, _ in LESIONS]
            centre = _combined_centroid(pieces)
        elif name in ("Liver", "Body"):
            whole = by_name["healthy liver" if name == "Liver" else "subcutaneous fat"].shapes[0]
            centre = [float(v) for v in centroid(whole)]
        else:
            centre = _combined_centroid([(s.volume_ml, centroid(s)) for p in parts for s in by_name[p].shapes])
        entry = {
            "role": role_of(name).role,
            "volume_ml": volume,
            "mass_g": mass,
            "density_g_per_ml": mass / volume,
            "centre_lps_mm": centre,
            "uniform": len(parts) == 1 or name == "Bone marrow",
            "tissues": parts,
            "shape": segment_shape(name, tissues),
        }
        if name.startswith("Lesion") or name.startswith("Extrahepatic"):
            entry["diameter_mm"] = 2.0 * by_name[parts[0]].shapes[0].radius_mm
        table[name] = entry
    return table


def tissue_volume_check(tissues: list[Tissue]) -> float:
    """Sum of visible volumes (must equal the torso volume): a consistency figure for the tests."""
    return sum(visible_volumes_ml(tissues).values())


def torso_volume_ml() -> float:
    a, b = TORSO_SEMI_AXES_MM
    return math.pi * a * b * 2.0 * TORSO_HALF_LENGTH_MM / 1000.0


SPINE_KINDS = ("bone", "marrow", "disc")


def nesting_violations(tissues: list[Tissue], spacing_mm: float = 1.5, gap_mm: float = 0.0) -> list[str]:
    """Check the painter's assumptions by sampling: every tissue's solids lie inside its parent's,
    and solids of unrelated tissues do not overlap, nor come closer than ``gap_mm`` (spine parts,
    which touch by design, are only checked for overlap among themselves).

    Returns one message per violation (empty when the anatomy is consistent). Roots (the fat
    cylinder and the soft tissue) are only checked as parents."""
    from .shapes import bounding_box, contains, local_coordinates

    by_name = {t.name: t for t in tissues}

    def ancestors(name: str) -> set[str]:
        found = set()
        while by_name[name].parent:
            name = by_name[name].parent
            found.add(name)
        return found

    boxes = {t.name: [bounding_box(s) for s in t.shapes] for t in tissues}
    problems = []
    for t in tissues:
        if not t.parent:
            continue
        for shape, (lo, hi) in zip(t.shapes, boxes[t.name]):
            axes = [np.arange(lo[d], hi[d] + spacing_mm, spacing_mm) for d in range(3)]
            pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
            pts = pts[contains(shape, pts)]
            parent = by_name[t.parent]
            inside_parent = np.zeros(len(pts), bool)
            for s in parent.shapes:
                inside_parent |= contains(s, pts)
            # a child may touch its parent's surface, not cross it
            if (~inside_parent).any():
                problems.append(f"{t.name} leaves its parent {t.parent} ({int((~inside_parent).sum())} samples)")
            related = ancestors(t.name) | {t.name}
            for other in tissues:
                if other.name in related or t.name in ancestors(other.name) or not other.parent:
                    continue
                for s, (olo, ohi) in zip(other.shapes, boxes[other.name]):
                    if np.any(olo - gap_mm > hi) or np.any(ohi + gap_mm < lo):
                        continue
                    if gap_mm > 0 and not (t.kind in SPINE_KINDS and other.kind in SPINE_KINDS):
                        clash = s.surface(local_coordinates(s, pts))[0] < gap_mm
                    else:
                        clash = contains(s, pts)
                    if clash.any():
                        problems.append(f"{t.name} and {other.name} overlap or are closer than {gap_mm} mm "
                                        f"({int(clash.sum())} samples)")
    return sorted(set(problems))
