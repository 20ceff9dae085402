"""One module per ``iahprrt`` subcommand (see :mod:`iahepaticprrt.cli`)."""
