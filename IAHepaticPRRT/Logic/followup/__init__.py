"""Follow-up after the intra-arterial cycle: lesion measurements on a segmentation (volume, RECIST 1.1
longest axial diameter and short axis with their end points), RECIST 1.1 response per visit and the
best overall response, per-lesion volumetric response, progression-free survival and the
Kaplan-Meier estimate (scipy), dose-response statistics (Spearman, logistic fit with the dose for
50 % response, ROC AUC), and the refinement of a VOI carried to a visit by registration.

May import: io, imaging and the package root; never uptake, registration or dosimetry (``study``
joins follow-up with registration, to carry baseline VOIs to a visit, and with dosimetry, for the
dose-response). Rules and sources: docs/physics.md sections 28 to 32.
"""
