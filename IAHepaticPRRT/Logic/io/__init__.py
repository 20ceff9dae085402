"""Files in and out: DICOM image series (CT, PET, SPECT stored as PT), NM SPECT time points, DICOM
dates and times, the DICOM writer, NRRD segmentations, volume and transform files, one image
argument of the command line, and outputs written atomically.

May import: :mod:`iahepaticprrt.imaging` and the package root.
"""
