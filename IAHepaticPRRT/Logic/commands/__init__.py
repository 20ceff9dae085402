"""One module per ``iahprrt`` subcommand (see :mod:`iahepaticprrt.cli`): arguments in, one call into
the layers below, files and a summary out.

May import: anything in the package except mrml (the command line computes on the core, without
Slicer); nothing imports it but ``cli``.
"""
