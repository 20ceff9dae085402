"""Runs on a trial's files: one cycle's dosimetry (read, time, register, compute), one patient from
its manifest (uptake, dosimetry, report), a cohort batch, cohort statistics and the demo.

May import: every domain package (uptake, registration, dosimetry), report, io, imaging, the root,
and the phantom (the demo only); never mrml or commands.
"""
