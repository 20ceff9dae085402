"""The reports: one self-contained HTML file each, with inline SVG plots, rendered from the results'
dictionaries: the patient report (``patient_report``) and the cohort report of ``batch``
(``cohort_report``, its charts in ``cohort_plots``).

May import: io, imaging and the package root; it renders numbers, it never computes them.
"""
