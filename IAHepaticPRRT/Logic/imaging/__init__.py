"""Images and VOIs in memory: voxel grids (LPS geometry), volumes, segmentations as named masks
and their resampling, spatial transforms, isocontours, VOI roles and VOI helpers (spheres, margins,
healthy liver, marrow). Reads and writes no file (that is :mod:`iahepaticprrt.io`).

May import: the package root (``errors``) only.
"""
