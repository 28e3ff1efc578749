"""The one error type the client raises for a handled failure."""

from __future__ import annotations


class CliError(Exception):
    """A failure the user can act on: printed as one line on stderr, exit code 1."""
