"""Kindred: self-hosted site search and related articles. The command line lives here."""

__version__ = "0.1.0"
