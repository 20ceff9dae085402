"""177Lu dosimetry: physical data, kinetics and TIA, voxel TIA and dose maps (local deposition, voxel
S-value kernels), sphere model, organ S-values, partial-volume correction, CT density and masses,
radiobiology (BED), organ limits, DVHs, and one cycle's computation in named stages (``cycle``).

May import: io, imaging and the package root; never uptake or registration (``study`` joins them).
"""
