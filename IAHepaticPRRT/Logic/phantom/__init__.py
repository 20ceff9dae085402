"""The synthetic trial patient: DICOM PET/CT and SPECT/CT, segmentations and ``truth.json`` with
every true value, for the demo and the tests (docs/phantom.md).

May import: io, imaging and the package root. Imported only by ``study.demo``, ``commands`` and
``known_answers``: production code never depends on test data.
"""
