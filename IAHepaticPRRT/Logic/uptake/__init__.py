"""68Ga PET uptake: vendor-neutral SUV from each scan's own DICOM headers and its normalisers, VOI
statistics (SUVmax, SUVpeak, SUVmean, isocontours) and the intra-arterial versus intravenous
comparison (enhancement ratios, eligibility).

May import: io, imaging and the package root; never dosimetry or registration.
"""
