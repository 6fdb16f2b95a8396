"""The ``mien`` command line (typer). Thin: options are parsed here, work happens in the library."""
