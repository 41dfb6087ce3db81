"""The package version, in the foundation so that every layer can read it."""

__version__ = "0.6.0"
