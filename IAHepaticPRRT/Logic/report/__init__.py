"""The patient report: one self-contained HTML file with inline SVG plots, rendered from the results'
dictionaries.

May import: io, imaging and the package root; it renders numbers, it never computes them.
"""
