"""Registration of CT to CT (and MRI to CT) with SimpleITK, VOIs carried through a transform,
landmarks and target registration error, and the alignment of one cycle's SPECT time points.

May import: io, imaging and the package root; never uptake or dosimetry.
"""
