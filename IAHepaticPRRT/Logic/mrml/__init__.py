"""MRML layer: the headless host (Slicer's real scene and module logics without Qt) and the adapter
between MRML nodes and the package's arrays. Runs the same inside Slicer and on ``slicer-core``.

May import: study and everything below it; never commands. Only this package (and the module file)
imports ``slicer`` and ``vtk``.
"""
