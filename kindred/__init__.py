"""Kindred: self-hosted site search and related articles. The command line lives here.

The version is the package's (pyproject.toml), read with importlib.metadata where shown."""
